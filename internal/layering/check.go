package layering

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Package is one package of the module, by module-relative paths: what it
// depends on, directly or not (what a binary that imports it links), and
// what its tests import directly (they count: a test of plugins/builtin
// must not reach into core either).
type Package struct {
	Path        string
	Deps        []string
	TestImports []string
}

// Violation is a dependency no rule allows.
type Violation struct {
	From, To string
	Rule     *Rule // nil: From is in no layer
}

func (v Violation) String() string {
	if v.Rule == nil {
		return fmt.Sprintf("%s is in no layer: add its top-level part to internal/layering.Rules and ARCHITECTURE.md", v.From)
	}
	allowed := "nothing outside itself"
	if len(v.Rule.Allow) > 0 {
		allowed = "only itself and " + strings.Join(v.Rule.Allow, ", ")
	}
	return fmt.Sprintf("%s depends on %s, but %s may use %s (%s)", v.From, v.To, v.Rule.From, allowed, v.Rule.Why)
}

// Check returns every dependency of pkgs that rules do not allow, sorted.
func Check(pkgs []Package, rules []Rule) []Violation {
	var out []Violation
	for _, p := range pkgs {
		r := ruleFor(p.Path, rules)
		if r == nil {
			out = append(out, Violation{From: p.Path})
			continue
		}
		for _, d := range append(slices.Clip(p.Deps), p.TestImports...) {
			if !allowed(*r, d) {
				out = append(out, Violation{From: p.Path, To: d, Rule: r})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].From != out[j].From {
			return out[i].From < out[j].From
		}
		return out[i].To < out[j].To
	})
	return out
}

// ruleFor is the rule with the longest From that covers path, or nil.
func ruleFor(path string, rules []Rule) *Rule {
	var best *Rule
	for i := range rules {
		if under(path, rules[i].From) && (best == nil || len(rules[i].From) > len(best.From)) {
			best = &rules[i]
		}
	}
	return best
}

func allowed(r Rule, dep string) bool {
	if under(dep, r.From) {
		return true
	}
	for _, a := range r.Allow {
		if under(dep, a) {
			return true
		}
	}
	return false
}

// under reports whether path is prefix or lies below it.
func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}
