package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/plugins/plugintest"
)

// sdkModule is the sdk's module path; a plugin author's go.mod requires it
// and nothing of the manager's.
const sdkModule = "github.com/shoal-project/shoal/sdk"

// TestPluginAuthorModuleOutsideTheRepo is a plugin author's workflow: a
// module of its own in a temp dir (the leastloaded example's files, a go.mod
// requiring the sdk with a replace to this checkout's sdk/) is tidied and
// built to Wasm, runs in the real plugin host through plugintest with the
// same answer as the example's native test (testdata/want.json), installs
// into a real manager, and its go.sum names nothing but the sdk and
// protobuf. It runs offline: GOPROXY=off, modules come from the cache the
// manager's own build filled.
func TestPluginAuthorModuleOutsideTheRepo(t *testing.T) {
	dir := authorModule(t)
	t.Setenv("GOFLAGS", "-mod=mod")
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOSUMDB", "off")
	t.Setenv("GOWORK", "off")
	goCmd(t, dir, "mod", "tidy")
	checkAuthorGoSum(t, dir)

	wasm := plugintest.Build(t, dir)
	p := plugintest.New(t, wasm, plugintest.Scheduler)
	req := plugintest.ReadScheduleRequest(t, filepath.Join(dir, "testdata", "cluster.json"))
	resp := p.Schedule(t, req)
	if web := plugintest.Placed(req, &resp.Groups[0]); web["n1"] != 5 || web["n2"] != 1 {
		t.Fatalf("web placements %v, want 5 on n1 and 1 on n2", web)
	}
	got, err := json.MarshalIndent(resp, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(dir, "testdata", "want.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Fatalf("the Wasm answer differs from the native one (testdata/want.json):\n%s", got)
	}

	path := filepath.Join(dir, "leastloaded.wasm")
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t)
	m1 := c.init("m1")
	out := mustRun(t, "--data-dir", m1.dir, "plugin", "install", "authored", path, "--kind", "scheduler")
	if !strings.Contains(out, "Installed scheduler plugin authored") {
		t.Fatalf("install said %q", out)
	}
	if r := m1.cli(t, "plugin", "ls"); r.Code != 0 || !strings.Contains(r.Stdout, "authored") {
		t.Fatalf("plugin ls does not list the installed plugin: %s", r)
	}
}

// authorModule writes the author's module: the example's source and
// recorded cluster state, and a go.mod that names only the sdk.
func authorModule(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	example := filepath.Join(root, "sdk", "examples", "leastloaded")
	dir := t.TempDir()
	for _, name := range []string{"main.go", "testdata/cluster.json", "testdata/want.json"} {
		b, err := os.ReadFile(filepath.Join(example, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gomod := "module example.com/leastloaded\n\ngo 1.24\n\nrequire " + sdkModule + " v0.0.0\n\nreplace " +
		sdkModule + " => " + filepath.Join(root, "sdk") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkAuthorGoSum fails unless go.sum names protobuf and nothing but the
// sdk and protobuf (the replaced sdk itself has no line).
func checkAuthorGoSum(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	var protobuf bool
	var others []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		mod, _, _ := strings.Cut(line, " ")
		switch mod {
		case "google.golang.org/protobuf":
			protobuf = true
		case sdkModule:
		default:
			others = append(others, mod)
		}
	}
	if len(others) > 0 {
		t.Fatalf("go.sum names %v; a plugin module may depend only on the sdk and protobuf (keep sdk/go.mod free of other requirements, tests included):\n%s", others, b)
	}
	if !protobuf {
		t.Fatalf("go.sum does not name google.golang.org/protobuf (the sdk's one dependency):\n%s", b)
	}
}

// goCmd runs the go command in dir and fails the test on an error.
func goCmd(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
}
