// Package atomicfile replaces state files so that a reader, or the node after
// a crash, finds either the whole old file or the whole new one: write a
// temporary file next to the target, fsync it, rename it over the target,
// then fsync the directory so the rename itself survives a power loss. Every
// state file of shoal (node.json, TLS material, the process backend's task
// files, the containerd backend's network file) goes through it. It must not
// import anything of shoal.
package atomicfile
