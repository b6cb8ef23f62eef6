package testenv_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/internal/testenv"
)

// helperEnv marks the child process that runs TestHelperNeedsContainerd for real.
const helperEnv = "SHOAL_TESTENV_HELPER"

// TestHelperNeedsContainerd is what a containerd test does first; it only
// runs inside TestMissingContainerdFailsUnderCI's child process.
func TestHelperNeedsContainerd(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper for TestMissingContainerdFailsUnderCI")
	}
	testenv.ContainerdAddress(t)
	t.Log("reached the test body")
}

// TestMissingContainerdFailsUnderCI runs a test that needs containerd, with
// SHOAL_CONTAINERD_ADDRESS unset, in a child process: under CI
// (SHOAL_REQUIRE_CONTAINERD=1) it fails, elsewhere it skips.
func TestMissingContainerdFailsUnderCI(t *testing.T) {
	tests := []struct {
		name    string
		require string
		want    string
		wantErr bool
	}{
		{"under CI it fails", "1", "--- FAIL: TestHelperNeedsContainerd", true},
		{"without CI it skips", "", "--- SKIP: TestHelperNeedsContainerd", false},
		{"any other value skips", "yes", "--- SKIP: TestHelperNeedsContainerd", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperNeedsContainerd$", "-test.v")
			cmd.Env = append(withoutVar(os.Environ(), testenv.ContainerdEnv, testenv.RequireEnv),
				helperEnv+"=1", testenv.RequireEnv+"="+tt.require)
			out, err := cmd.CombinedOutput()
			if (err != nil) != tt.wantErr {
				t.Fatalf("exit error %v, want error %v:\n%s", err, tt.wantErr, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Fatalf("output lacks %q:\n%s", tt.want, out)
			}
			if strings.Contains(string(out), "reached the test body") {
				t.Fatalf("the test body ran without containerd:\n%s", out)
			}
			if tt.wantErr && !strings.Contains(string(out), testenv.ContainerdEnv+" unset") {
				t.Fatalf("the failure does not say what is missing:\n%s", out)
			}
		})
	}
}

func withoutVar(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, n := range names {
			keep = keep && name != n
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}
