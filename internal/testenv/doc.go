// Package testenv decides what a test does when something outside the Go
// toolchain is missing (containerd, root, iptables, busybox): on a
// developer's machine it skips, under CI it fails.
//
// scripts/test.sh sets SHOAL_REQUIRE_CONTAINERD=1 after scripts/ci-services.sh
// has started containerd and the registry, so a CI run cannot go green by
// skipping the tests that need them.
package testenv
