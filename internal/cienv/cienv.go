// Package cienv says where the services that scripts/ci-services.sh starts
// for the containerd tests are (containerd, a plain-HTTP registry holding
// busybox), and skips a test when they are not there. Tests only; it
// imports nothing of shoal.
package cienv

import (
	"os"
	"testing"
)

// Containerd is the containerd socket of the CI services. It skips t when
// SHOAL_CONTAINERD_ADDRESS is unset and fails it when not run as root.
func Containerd(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("SHOAL_CONTAINERD_ADDRESS")
	if addr == "" {
		t.Skip("SHOAL_CONTAINERD_ADDRESS unset: run scripts/ci-services.sh and source $SHOAL_CI_DIR/env (default /tmp/shoal-ci/env) to run the containerd tests")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the containerd tests need root (SHOAL_CONTAINERD_ADDRESS is set)")
	}
	return addr
}

// Registry is host:port of the test registry (SHOAL_TEST_REGISTRY, default
// 127.0.0.1:5000).
func Registry() string {
	if r := os.Getenv("SHOAL_TEST_REGISTRY"); r != "" {
		return r
	}
	return "127.0.0.1:5000"
}

// Busybox is the busybox image in the test registry.
func Busybox() string { return Registry() + "/busybox:latest" }
