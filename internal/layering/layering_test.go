package layering

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestModuleFollowsLayering checks every package of the module, tests
// included, against Rules.
func TestModuleFollowsLayering(t *testing.T) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	pkgs, err := List(filepath.Dir(strings.TrimSpace(string(gomod))))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages; expected the whole module", len(pkgs))
	}
	for _, v := range Check(pkgs, Rules) {
		t.Error(v)
	}
}

// TestCheckRejectsForbiddenArrows feeds synthetic packages, one dependency
// each, to the same Check: every forbidden arrow fails, every allowed one
// passes.
func TestCheckRejectsForbiddenArrows(t *testing.T) {
	tests := []struct {
		from, to string
		ok       bool
	}{
		{"sdk", "core/store", false},
		{"sdk/policy/spread", "runtime/sim", false},
		{"sdk", "plugins", false},
		{"plugins/plugintest", "core/pluginmgr", false},
		{"plugins/plugintest", "runtime", false},
		{"runtime/containerd", "core/agent", false},
		{"runtime/sim", "plugins", false},
		{"runtime", "network", false},
		{"network", "core/store", false},
		{"network", "runtime", false},
		{"plugins", "core/scheduler", false},
		{"plugins", "runtime/process", false},
		{"plugins", "gen/shoal/v1", false},
		{"plugins/builtin/spread", "plugins", false},
		{"plugins/builtin/ipam", "internal/clock", false},
		{"core/node", "cmd/shoal", false},
		{"internal/clock", "cmd/shoal", false},
		{"internal/ids", "core/ca", false},
		{"internal/client", "cmd/shoal", false},
		{"gen/shoal/v1", "sdk", false},
		{"core/manager", "e2e", false},
		{"core/manager", "bench/scale", false},
		{"e2e", "cmd/shoal", false},
		{"e2e", "bench/scale", false},
		{"bench/scale", "e2e", false},
		{"newpart/thing", "sdk", false},

		{"cmd/shoal", "core/node", true},
		{"core/scheduler", "plugins", true},
		{"core/agent", "runtime/containerd", true},
		{"core/agent", "network", true},
		{"core/allocator", "sdk/policy/ipam", true},
		{"plugins", "sdk/policy/filter", true},
		{"plugins/builtin/binpack", "sdk/policy/binpack", true},
		{"plugins/plugintest", "plugins", true},
		{"plugins/policytest", "sdk/policy/filter", true},
		{"sdk/policy/spread", "sdk", true},
		{"runtime/sim", "internal/clock", true},
		{"network", "internal/clock", true},
		{"internal/client", "core/ca", false},
		{"e2e", "runtime/containerd", true},
		{"bench/scale", "core/node", true},
	}
	for _, tt := range tests {
		t.Run(tt.from+" -> "+tt.to, func(t *testing.T) {
			got := Check([]Package{{Path: tt.from, Deps: []string{tt.to}}}, Rules)
			if tt.ok {
				// What a package may depend on, its tests may import.
				got = append(got, Check([]Package{{Path: tt.from, TestImports: []string{tt.to}}}, Rules)...)
			}
			if tt.ok && len(got) != 0 {
				t.Fatalf("allowed arrow rejected: %v", got)
			}
			if !tt.ok && len(got) != 1 {
				t.Fatalf("forbidden arrow passed (violations: %v)", got)
			}
			if !tt.ok && !strings.Contains(got[0].String(), tt.from) {
				t.Fatalf("message %q does not name %s", got[0], tt.from)
			}
		})
	}
}

// TestListReadsDepsAndTestImports reads what go list says a package
// depends on and what its tests import, and drops what lies outside the
// module.
func TestListReadsDepsAndTestImports(t *testing.T) {
	const out = `
{"ImportPath": "m/sdk", "Module": {"Path": "m"}, "Deps": ["fmt", "m/sdk/wire"],
 "TestImports": ["testing", "m/sdk/policy/filter"], "XTestImports": ["m/core/store", "m/sdk"]}
{"ImportPath": "fmt", "Deps": ["errors"]}
`
	pkgs, err := parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 1 || pkgs[0].Path != "sdk" || strings.Join(pkgs[0].Deps, ",") != "sdk/wire" ||
		strings.Join(pkgs[0].TestImports, ",") != "sdk/policy/filter,core/store" {
		t.Fatalf("got %+v", pkgs)
	}
	if v := Check(pkgs, Rules); len(v) != 1 || v[0].To != "core/store" {
		t.Fatalf("a test's import must count: %v", v)
	}
}
