// Command testimage writes a small OCI image layout built from the host's static
// busybox binary (Debian's busybox-static), for tests that need a real image without
// internet access. The image has one layer (/bin/busybox, a symlink per applet, /etc/passwd,
// /etc/group and a few empty directories), a config with Cmd ["sh"], a manifest and
// index.json tagged "latest".
//
//	go run ./internal/testimage -out DIR [-busybox /bin/busybox] [-tag latest]
//
// The output is deterministic for a given busybox binary. It owns nothing else and
// must not touch containerd or any registry; scripts/ci-services.sh pushes it.
package main
