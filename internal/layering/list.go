package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
)

// listed is the part of `go list -json` output the check reads.
type listed struct {
	ImportPath   string
	Deps         []string
	TestImports  []string
	XTestImports []string
	Module       *struct{ Path string }
}

// List runs `go list -json ./...` in dir (inside the module) and returns the
// module's packages with their module-relative dependencies.
func List(dir string) ([]Package, error) {
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %v\n%s", err, stderr.Bytes())
	}
	return parse(bytes.NewReader(out))
}

func parse(r io.Reader) ([]Package, error) {
	var pkgs []Package
	dec := json.NewDecoder(r)
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("decode go list output: %w", err)
		}
		if p.Module == nil {
			continue
		}
		path, ok := relative(p.ImportPath, p.Module.Path)
		if !ok {
			continue
		}
		tests := append(slices.Clip(p.TestImports), p.XTestImports...)
		pkgs = append(pkgs, Package{
			Path:        path,
			Deps:        within(p.Deps, p.Module.Path, path),
			TestImports: within(tests, p.Module.Path, path),
		})
	}
	return pkgs, nil
}

// within keeps the module's packages other than self, module-relative.
func within(paths []string, mod, self string) []string {
	var out []string
	for _, p := range paths {
		if rel, ok := relative(p, mod); ok && rel != self && !slices.Contains(out, rel) {
			out = append(out, rel)
		}
	}
	return out
}

// relative turns "MOD/a/b" into "a/b"; ok is false outside the module (the
// standard library, other modules).
func relative(importPath, mod string) (string, bool) {
	return strings.CutPrefix(importPath, mod+"/")
}
