// Package policytest generates cluster states for the sdk policies'
// property tests and benchmarks. Test support only; not used by the
// policies. It draws with rapid, which the sdk module must not require, so
// it and the property tests live in the manager's module.
package policytest

import (
	"fmt"

	"pgregory.net/rapid"

	"github.com/shoal-project/shoal/sdk"
)

// Nodes draws a random node table: varied readiness, availability, roles,
// kinds, zone labels and resources.
func Nodes(t *rapid.T, max int) []sdk.Node {
	n := rapid.IntRange(0, max).Draw(t, "nodes")
	nodes := make([]sdk.Node, n)
	for i := range nodes {
		cpu := rapid.Int64Range(0, 8).Draw(t, "cpu") * 1e9
		mem := rapid.Int64Range(0, 8).Draw(t, "mem") << 30
		nodes[i] = sdk.Node{
			ID:               fmt.Sprintf("n%d", i),
			Hostname:         fmt.Sprintf("h%d", i),
			Ready:            rapid.Float64Range(0, 1).Draw(t, "ready") < 0.9,
			Availability:     sdk.Availability(rapid.SampledFrom([]uint32{0, 0, 0, 0, 1, 2}).Draw(t, "avail")),
			Role:             sdk.Role(rapid.Uint32Range(0, 1).Draw(t, "role")),
			Kinds:            rapid.SampledFrom([][]string{{"container"}, {"process"}, {"container", "process"}}).Draw(t, "kinds"),
			TotalNanoCPUs:    cpu,
			FreeNanoCPUs:     rapid.Int64Range(0, cpu).Draw(t, "fcpu"),
			TotalMemoryBytes: mem,
			FreeMemoryBytes:  rapid.Int64Range(0, mem).Draw(t, "fmem"),
			Labels:           map[string]string{"zone": rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "zone")},
			TaskCount:        rapid.Uint32Range(0, 5).Draw(t, "tasks"),
		}
	}
	return nodes
}

// Groups draws task groups with random constraints, reservations, limits
// and preferences.
func Groups(t *rapid.T, max int) []sdk.TaskGroup {
	n := rapid.IntRange(0, max).Draw(t, "groups")
	groups := make([]sdk.TaskGroup, n)
	for i := range groups {
		groups[i] = sdk.TaskGroup{
			ServiceID:          rapid.SampledFrom([]string{"s1", "s2", "s3"}).Draw(t, "svc"),
			Count:              rapid.Uint32Range(0, 40).Draw(t, "count"),
			Kind:               rapid.SampledFrom([]string{"", "container", "process"}).Draw(t, "kind"),
			Constraints:        rapid.SliceOfN(rapid.SampledFrom([]string{"node.labels.zone==a", "node.labels.zone!=b", "node.role!=manager", "node.role==worker", "node.hostname!=h1", "node.id==n2"}), 0, 2).Draw(t, "cons"),
			NanoCPUs:           rapid.Int64Range(0, 2).Draw(t, "cpu") * 5e8,
			MemoryBytes:        rapid.Int64Range(0, 2).Draw(t, "mem") << 29,
			MaxReplicasPerNode: rapid.Uint32Range(0, 3).Draw(t, "max"),
			Preferences:        rapid.SliceOfN(rapid.Just("node.labels.zone"), 0, 1).Draw(t, "prefs"),
		}
	}
	return groups
}

// Uniform builds a benchmark-scale table: n identical ready nodes in 3
// zones with room for everything, and one group of tasks tasks.
func Uniform(nodes, tasks int) *sdk.ScheduleRequest {
	req := &sdk.ScheduleRequest{Nodes: make([]sdk.Node, nodes)}
	for i := range req.Nodes {
		req.Nodes[i] = sdk.Node{
			ID: fmt.Sprintf("node-%04d", i), Hostname: fmt.Sprintf("host-%04d", i),
			Ready: true, Kinds: []string{"container", "process"},
			TotalNanoCPUs: 64e9, FreeNanoCPUs: 64e9, TotalMemoryBytes: 256 << 30, FreeMemoryBytes: 256 << 30,
			Labels:    map[string]string{"zone": string(rune('a' + i%3)), "rack": fmt.Sprint(i % 40)},
			TaskCount: uint32(i % 7),
		}
	}
	ids := make([]string, tasks)
	for i := range ids {
		ids[i] = fmt.Sprintf("task-%07d", i)
	}
	req.Groups = []sdk.TaskGroup{{
		ServiceID: "svc-web", SpecVersion: 1, Count: uint32(tasks), TaskIDs: ids, Kind: "container",
		Constraints: []string{"node.role==worker"}, NanoCPUs: 1e7, MemoryBytes: 16 << 20,
	}}
	return req
}

// Place counts an answer's placements in the node table (free resources,
// task counts, per-service counts), as the scheduler does after a call.
func Place(nodes []sdk.Node, groups []sdk.TaskGroup, resp *sdk.ScheduleResponse) {
	for gi, g := range resp.Groups {
		tg := &groups[gi]
		for _, p := range g.Placements {
			if p == sdk.Unschedulable {
				continue
			}
			n := &nodes[p]
			n.FreeNanoCPUs -= tg.NanoCPUs
			n.FreeMemoryBytes -= tg.MemoryBytes
			n.TaskCount++
			if n.ServiceTasks == nil {
				n.ServiceTasks = map[string]uint32{}
			}
			n.ServiceTasks[tg.ServiceID]++
		}
	}
}
