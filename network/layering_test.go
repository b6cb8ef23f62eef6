package network

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNetworkImportsNothingOfCore keeps network/ node-local plumbing, as
// ARCHITECTURE.md says: core imports it, never the other way round.
func TestNetworkImportsNothingOfCore(t *testing.T) {
	const module = "github.com/shoal-project/shoal/"
	forbidden := []string{"core", "cmd", "plugins"}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for _, top := range forbidden {
				if p == module+top || strings.HasPrefix(p, module+top+"/") {
					t.Errorf("%s imports %s: network/ must import nothing of %s/", path, p, top)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
