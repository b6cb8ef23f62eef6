package api

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// apiErrorPackages are the packages whose error messages reach API
// callers (this one, and what its handlers and the manager's pass on).
var apiErrorPackages = []string{
	".", "../auth", "../manager", "../dispatcher", "../store", "../raft", "../ca",
	"../pluginmgr", "../scheduler", "../allocator", "../orchestrator", "../taskspec",
}

// cliWords are what a message speaks when it tells a person what to type:
// a shoal command or a command-line flag.
var cliWords = regexp.MustCompile(`\bshoal (init|join|join-token|run|service|node|plugin|network|cluster|events|image|dashboard|leave)\b|(^|[\s(])--[a-z][a-z-]+`)

// errorConstructors are the calls whose string arguments become error text.
var errorConstructors = map[string]bool{
	"Errorf": true, "New": true, "NewError": true, "invalidArg": true, "notFound": true,
	"notFoundDetail": true, "objectNotFound": true, "precondition": true,
}

// TestAPIErrorsNeverNameACommand reads the source of the packages API
// errors come from: no error message may name a CLI command or flag (the
// API speaks of objects and fields; cmd/shoal adds its own hints).
func TestAPIErrorsNeverNameACommand(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	for _, dir := range apiErrorPackages {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || !errorConstructors[calleeName(call)] {
					return true
				}
				for _, arg := range call.Args {
					lit, ok := arg.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					checked++
					if s, err := strconv.Unquote(lit.Value); err == nil && cliWords.MatchString(s) {
						t.Errorf("%s: error text names a CLI command or flag (%q): say it in the API's words and let cmd/shoal hint", fset.Position(lit.Pos()), cliWords.FindString(s))
					}
				}
				return true
			})
		}
	}
	if checked < 100 {
		t.Fatalf("only %d error strings found: the scan is broken", checked)
	}
}

func calleeName(call *ast.CallExpr) string {
	switch fn := call.Fun.(type) {
	case *ast.Ident:
		return fn.Name
	case *ast.SelectorExpr:
		return fn.Sel.Name
	}
	return ""
}

func TestCLIWordsAreRecognised(t *testing.T) {
	for s, want := range map[string]bool{
		`service "x" not found: list services with 'shoal service ls'`: true,
		"spec.gateway: give spec.subnet (--subnet) with it":            true,
		"--force is required":                       true,
		"spec.name: a DNS label of 1-63 characters": false,
		"shoal root CA":                             false,
	} {
		if got := cliWords.MatchString(s); got != want {
			t.Errorf("%q: names a command: %v, want %v", s, got, want)
		}
	}
}
