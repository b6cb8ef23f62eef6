package dns

import "strings"

const tasksPrefix = "tasks."

// candidate is one way to read a query name as a cluster name.
type candidate struct {
	kind Kind
	name string
}

// candidates returns the cluster names qname can stand for, most literal first:
// qname itself, then qname without each search domain it ends in. search holds
// lower-case domains without dots at either end.
func candidates(qname string, search []string) []candidate {
	name := strings.TrimSuffix(strings.ToLower(qname), ".")
	out := appendCandidate(nil, name)
	for _, d := range search {
		if base, ok := strings.CutSuffix(name, "."+d); ok {
			out = appendCandidate(out, base)
		}
	}
	return out
}

func appendCandidate(out []candidate, name string) []candidate {
	if rest, ok := strings.CutPrefix(name, tasksPrefix); ok {
		if rest == "" {
			return out
		}
		return append(out, candidate{KindTasks, rest})
	}
	if name == "" {
		return out
	}
	return append(out, candidate{KindName, name})
}

// normalizeDomains lower-cases search domains and trims their dots.
func normalizeDomains(domains []string) []string {
	out := make([]string, 0, len(domains))
	for _, d := range domains {
		if d = strings.Trim(strings.ToLower(d), "."); d != "" {
			out = append(out, d)
		}
	}
	return out
}
