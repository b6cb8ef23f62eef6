package netagent

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/shoal-project/shoal/core/gossip"
	"github.com/shoal-project/shoal/network/dns"
	"github.com/shoal-project/shoal/network/lb"
	"github.com/shoal-project/shoal/network/overlay"
)

// entryKey identifies a gossip entry: one task on one network.
type entryKey struct{ network, task string }

// peersFor lists the overlay peers of a network: every attachment the
// gossip table holds on it, sorted by address. The overlay skips this
// node's own (they are on the bridge).
func peersFor(networkID string, entries map[entryKey]gossip.Entry) []overlay.Peer {
	var out []overlay.Peer
	for k, e := range entries {
		if k.network != networkID {
			continue
		}
		mac := e.MAC
		if len(mac) == 0 {
			mac, _ = overlay.MACFromIP(e.Addr.Addr()) // the data plane's own derivation
		}
		out = append(out, overlay.Peer{Addr: e.Addr.Addr(), MAC: mac, NodeAddr: e.NodeAddr})
	}
	slices.SortFunc(out, func(a, b overlay.Peer) int { return a.Addr.Compare(b.Addr) })
	return out
}

// view is what one task sees of the cluster on its networks: the VIPs and
// the attachments of tasks on the same networks.
type view struct {
	vips    []VIP
	entries []gossip.Entry
}

// viewOf gathers a task's view from the networks it is attached to.
func viewOf(t Task, networks map[string]Network, entries map[entryKey]gossip.Entry) view {
	var v view
	for _, id := range sortedKeys(t.Addrs) {
		v.vips = append(v.vips, networks[id].VIPs...)
	}
	for k, e := range entries {
		if _, ok := t.Addrs[k.network]; ok {
			v.entries = append(v.entries, e)
		}
	}
	slices.SortFunc(v.entries, func(a, b gossip.Entry) int {
		return a.Addr.Addr().Compare(b.Addr.Addr())
	})
	return v
}

// records are the names a task resolves: every service with a VIP or a
// task on its networks (NAME, tasks.NAME), and every task name.
func (v view) records() dns.Records {
	r := dns.Records{Services: map[string]dns.ServiceRecord{}, Tasks: map[string]netip.Addr{}}
	for _, vip := range v.vips {
		s := r.Services[vip.ServiceName]
		s.VIP = vip.Addr
		r.Services[vip.ServiceName] = s
	}
	for _, e := range v.entries {
		if e.ServiceName != "" {
			s := r.Services[e.ServiceName]
			s.Tasks = appendUnique(s.Tasks, e.Addr.Addr())
			r.Services[e.ServiceName] = s
		}
		if e.TaskName != "" {
			r.Tasks[e.TaskName] = e.Addr.Addr()
		}
	}
	return r
}

// services are the load-balanced VIPs a task reaches: each VIP on all its
// ports, backed by the attachments of the service's tasks on the VIP's network.
func (v view) services(networks map[string]Network) []lb.Service {
	var out []lb.Service
	for _, id := range sortedKeys(networks) {
		for _, vip := range networks[id].VIPs {
			if !containsVIP(v.vips, vip) {
				continue
			}
			s := lb.Service{Name: vip.ServiceName, VIP: vip.Addr}
			for _, e := range v.entries {
				if e.NetworkID == id && e.ServiceID == vip.ServiceID {
					s.Backends = appendUnique(s.Backends, e.Addr.Addr())
				}
			}
			out = append(out, s)
		}
	}
	return out
}

// sortedEntries lists the gossip table by address (then task, for one
// address seen twice while a task moves).
func sortedEntries(entries map[entryKey]gossip.Entry) []gossip.Entry {
	out := make([]gossip.Entry, 0, len(entries))
	for _, e := range entries {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b gossip.Entry) int {
		if c := a.Addr.Addr().Compare(b.Addr.Addr()); c != 0 {
			return c
		}
		return strings.Compare(a.TaskID, b.TaskID)
	})
	return out
}

func containsVIP(vips []VIP, v VIP) bool {
	return slices.ContainsFunc(vips, func(o VIP) bool { return o.Addr == v.Addr && o.ServiceID == v.ServiceID })
}

func appendUnique(addrs []netip.Addr, a netip.Addr) []netip.Addr {
	if slices.Contains(addrs, a) {
		return addrs
	}
	return append(addrs, a)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, strings.Compare)
	return keys
}
