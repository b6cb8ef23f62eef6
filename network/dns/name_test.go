package dns

import (
	"slices"
	"strings"
	"testing"
)

func TestCandidatesReadQueryNamesAsClusterNames(t *testing.T) {
	search := normalizeDomains([]string{"Corp.Test.", "lab"})
	tests := []struct {
		qname string
		want  []candidate
	}{
		{"web.", []candidate{{KindName, "web"}}},
		{"web", []candidate{{KindName, "web"}}},
		{"WeB.", []candidate{{KindName, "web"}}},
		{"tasks.web.", []candidate{{KindTasks, "web"}}},
		{"TASKS.Web.", []candidate{{KindTasks, "web"}}},
		{"web.corp.test.", []candidate{{KindName, "web.corp.test"}, {KindName, "web"}}},
		{"tasks.web.lab.", []candidate{{KindTasks, "web.lab"}, {KindTasks, "web"}}},
		{"corp.test.", []candidate{{KindName, "corp.test"}}},
		{"tasks.", []candidate{{KindName, "tasks"}}},
		{"tasks..", nil},
		{".", nil},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.qname, func(t *testing.T) {
			if got := candidates(tt.qname, search); !slices.Equal(got, tt.want) {
				t.Errorf("candidates(%q) = %v, want %v", tt.qname, got, tt.want)
			}
		})
	}
}

func FuzzCandidates(f *testing.F) {
	for _, s := range []string{"web.", "tasks.web.corp.test.", "TASKS.", "a..b", ".corp.test", "\\046.tasks."} {
		f.Add(s, "corp.test")
	}
	f.Fuzz(func(t *testing.T, qname, domain string) {
		for _, c := range candidates(qname, normalizeDomains([]string{domain})) {
			if c.name == "" {
				t.Fatalf("candidates(%q): an empty name", qname)
			}
			if c.name != strings.ToLower(c.name) {
				t.Fatalf("candidates(%q): %q is not lower case", qname, c.name)
			}
			if !strings.Contains(strings.ToLower(qname), c.name) {
				t.Fatalf("candidates(%q): %q is not part of the query", qname, c.name)
			}
		}
	})
}
