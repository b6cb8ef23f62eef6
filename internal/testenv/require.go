package testenv

import (
	"fmt"
	"os"
	"testing"
)

// RequireEnv is the variable that turns a missing requirement from a skip
// into a failure. scripts/test.sh sets it to 1.
const RequireEnv = "SHOAL_REQUIRE_CONTAINERD"

// ContainerdEnv names the containerd socket the integration tests use;
// scripts/ci-services.sh prints it.
const ContainerdEnv = "SHOAL_CONTAINERD_ADDRESS"

// Required reports whether this run must not skip for lack of containerd,
// the registry, root or the host tools.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Missing ends the test because what it needs is not there: a failure when
// Required, a skip otherwise. The message says what is missing.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (%s=1: this run requires it)", msg, RequireEnv)
	}
	t.Skip(msg)
}

// Root ends the test through Missing unless it runs as root.
func Root(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root: %s", why)
	}
}

// ContainerdAddress returns the containerd socket from ContainerdEnv. Unset,
// the test ends through Missing; not root, it fails (a set address means the
// run meant to use containerd).
func ContainerdAddress(t testing.TB) string {
	t.Helper()
	addr := os.Getenv(ContainerdEnv)
	if addr == "" {
		Missing(t, "%s unset: run scripts/ci-services.sh and source $SHOAL_CI_DIR/env (default /tmp/shoal-ci/env)", ContainerdEnv)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("containerd integration tests need root (%s is set)", ContainerdEnv)
	}
	return addr
}
