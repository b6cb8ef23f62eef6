package client

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/shoal-project/shoal/"

// TestLeafPackagesImportNothingOfCore checks the layering that
// ARCHITECTURE.md states: the CLI's dialer and the leaf helpers import no
// part of core (the helpers none of shoal at all).
func TestLeafPackagesImportNothingOfCore(t *testing.T) {
	for _, tc := range []struct {
		pkg     string
		allowed []string // shoal packages it may depend on
	}{
		{pkg: "internal/client", allowed: []string{"gen/", "internal/endpoint", "internal/httpclient"}},
		{pkg: "internal/httpclient"},
		{pkg: "internal/endpoint"},
		{pkg: "internal/atomicfile"},
	} {
		t.Run(tc.pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+tc.pkg).Output()
			if err != nil {
				t.Fatalf("go list %s: %v", tc.pkg, err)
			}
			for _, dep := range strings.Fields(string(out)) {
				rel, ok := strings.CutPrefix(dep, module)
				if !ok || rel == tc.pkg || allowedDep(rel, tc.allowed) {
					continue
				}
				t.Errorf("%s imports %s", tc.pkg, rel)
			}
		})
	}
}

func allowedDep(rel string, allowed []string) bool {
	for _, a := range allowed {
		if strings.HasPrefix(rel, a) {
			return true
		}
	}
	return false
}
