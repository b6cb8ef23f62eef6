package dns

import (
	"net/netip"
	"strings"
	"sync/atomic"
)

// Kind is what a query asks for.
type Kind int

// The kinds of cluster names.
const (
	// KindName is a plain NAME: a service (its VIP) or a task (its address).
	KindName Kind = iota
	// KindTasks is tasks.NAME: the addresses of a service's healthy tasks.
	KindTasks
)

func (k Kind) String() string {
	if k == KindTasks {
		return "tasks"
	}
	return "name"
}

// Resolver answers the cluster's names as one task sees them (on its networks).
// name is lower case, without a trailing dot, a search domain or the "tasks." prefix.
// found reports whether the name exists in the cluster; a found name may have no
// address (a service whose tasks are all down).
type Resolver interface {
	Lookup(kind Kind, name string) (addrs []netip.Addr, found bool)
}

// ServiceRecord is one service as seen from a task's networks.
type ServiceRecord struct {
	// VIP is the service's virtual IP; invalid for a service without one, whose
	// NAME then answers its tasks' addresses.
	VIP netip.Addr
	// Tasks are the addresses of the healthy tasks.
	Tasks []netip.Addr
}

// Records are the names one task can resolve, keyed case-insensitively.
type Records struct {
	Services map[string]ServiceRecord
	// Tasks maps task names (and hostnames) to addresses.
	Tasks map[string]netip.Addr
}

// Table is a Resolver over Records that the node replaces as a whole (Set) whenever
// the task's view of the cluster changes; lookups never block on an update.
type Table struct {
	records atomic.Pointer[Records]
}

// Set replaces the table's records. The table keeps its own copy, with lower-case keys.
func (t *Table) Set(r Records) {
	norm := Records{
		Services: make(map[string]ServiceRecord, len(r.Services)),
		Tasks:    make(map[string]netip.Addr, len(r.Tasks)),
	}
	for name, s := range r.Services {
		s.Tasks = append([]netip.Addr(nil), s.Tasks...)
		norm.Services[strings.ToLower(name)] = s
	}
	for name, a := range r.Tasks {
		norm.Tasks[strings.ToLower(name)] = a
	}
	t.records.Store(&norm)
}

// Lookup implements Resolver. A service name wins over a task of the same name.
func (t *Table) Lookup(kind Kind, name string) ([]netip.Addr, bool) {
	r := t.records.Load()
	if r == nil {
		return nil, false
	}
	if s, ok := r.Services[name]; ok {
		if kind == KindName && s.VIP.IsValid() {
			return []netip.Addr{s.VIP}, true
		}
		return s.Tasks, true
	}
	if a, ok := r.Tasks[name]; ok && kind == KindName {
		return []netip.Addr{a}, true
	}
	return nil, false
}
