package builtin_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/shoal-project/shoal/plugins/builtin"
)

// TestCommittedModulesAreFresh rebuilds the built-in plugins with
// scripts/build-plugins.sh into a temporary directory and compares bytes
// with the committed (embedded) files.
func TestCommittedModulesAreFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("rebuilds three Wasm modules")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	out := t.TempDir()
	cmd := exec.Command("sh", filepath.Join(root, "scripts", "build-plugins.sh"), out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build-plugins.sh: %v\n%s", err, b)
	}
	for _, name := range builtin.Names {
		fresh, err := os.ReadFile(filepath.Join(out, name+".wasm"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fresh, builtin.Module(name)) {
			t.Errorf("plugins/builtin/%s.wasm is stale: run scripts/build-plugins.sh and commit", name)
		}
	}
}
