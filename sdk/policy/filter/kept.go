package filter

import (
	"strings"

	"github.com/shoal-project/shoal/sdk"
)

// Kept holds a Cluster between the calls of a policy that keeps its state
// (sdk.RegisterKeptScheduler): the per-node counters, the per-service
// counts and the static filter results asked for so far stay, and each
// call refreshes only the rows the table changed in (sdk.TableChanges).
// A one-task call on 2,400 nodes then no longer rebuilds arrays from
// 2,400 rows and their service maps, which in a Wasm guest cost far more
// than the placement.
//
// A policy run on a kept cluster may change the counters (FreeCPU,
// FreeMem, Tasks, ServiceCounts) only of the rows it places tasks on, as
// Cluster.Place does: those rows are read again from the table after the
// call. The zero value is ready; it is not safe for concurrent use.
type Kept struct {
	c *Cluster
	// touched marks rows placed on in this call (epoch-stamped).
	touched []uint32
	epoch   uint32
}

// Bounds on what a kept cluster caches; past them the cache starts over
// (it refills on demand), so a guest's memory stays bounded.
const (
	maxKeptServices   = 1024
	maxKeptSignatures = 64
)

// ScheduleEach is the package's ScheduleEach over the kept cluster,
// updated for ch first and restored to the table afterwards.
func (k *Kept) ScheduleEach(req *sdk.ScheduleRequest, ch sdk.TableChanges, place func(*Cluster, *sdk.TaskGroup) sdk.GroupResult) *sdk.ScheduleResponse {
	c := k.begin(req.Nodes, ch)
	// Until the restore below, c differs from the table: a panic in
	// place must not leave it for the next call.
	k.c = nil
	resp := &sdk.ScheduleResponse{Groups: make([]sdk.GroupResult, len(req.Groups))}
	for gi := range req.Groups {
		resp.Groups[gi] = place(c, &req.Groups[gi])
	}
	k.restore(c, req.Groups, resp)
	k.c = c
	return resp
}

// begin returns the cluster for nodes: the kept one with ch's rows read
// again, or a new one when ch does not describe the kept rows.
func (k *Kept) begin(nodes []sdk.Node, ch sdk.TableChanges) *Cluster {
	c := k.c
	if c == nil || !ch.Same || len(c.Nodes) != len(nodes) || !inRange(ch.Rows, len(nodes)) {
		return NewCluster(nodes)
	}
	c.Nodes = nodes
	if len(c.svc) > maxKeptServices {
		c.svc = make(map[string][]uint32)
	}
	if len(c.static) > maxKeptSignatures {
		c.static = nil
	}
	for _, i := range ch.Rows {
		c.refreshCounters(i)
		for _, st := range c.static {
			st.failures[i] = c.staticOf(i, st.kind, st.cons)
		}
	}
	for id, s := range c.svc {
		for _, i := range ch.Rows {
			s[i] = nodes[i].ServiceTasks[id]
		}
	}
	return c
}

func inRange(rows []int, n int) bool {
	for _, i := range rows {
		if i < 0 || i >= n {
			return false
		}
	}
	return true
}

// restore reads the rows placed on in resp again from the table.
func (k *Kept) restore(c *Cluster, groups []sdk.TaskGroup, resp *sdk.ScheduleResponse) {
	if len(k.touched) != len(c.Nodes) {
		k.touched, k.epoch = make([]uint32, len(c.Nodes)), 0
	}
	for gi := range resp.Groups {
		// A group's service counts are restored once per row; rows of
		// groups of one service are marked again, which only repeats
		// a lookup.
		k.epoch++
		if k.epoch == 0 {
			clear(k.touched)
			k.epoch = 1
		}
		svc := c.svc[groups[gi].ServiceID]
		if len(resp.Groups[gi].Placements) > len(c.Nodes) {
			// Many tasks: reading every row costs less than checking
			// every placement.
			for i := range c.Nodes {
				c.refreshCounters(i)
				if svc != nil {
					svc[i] = c.Nodes[i].ServiceTasks[groups[gi].ServiceID]
				}
			}
			continue
		}
		for _, p := range resp.Groups[gi].Placements {
			if p < 0 || int(p) >= len(c.Nodes) || k.touched[p] == k.epoch {
				continue
			}
			k.touched[p] = k.epoch
			c.refreshCounters(int(p))
			if svc != nil {
				svc[p] = c.Nodes[p].ServiceTasks[groups[gi].ServiceID]
			}
		}
	}
}

func (c *Cluster) refreshCounters(i int) {
	n := &c.Nodes[i]
	c.FreeCPU[i], c.FreeMem[i], c.Tasks[i] = n.FreeNanoCPUs, n.FreeMemoryBytes, n.TaskCount
}

// staticResults are the static filter results of one (kind,
// constraints) signature, per node.
type staticResults struct {
	kind     string
	cons     []Constraint
	failures []Failure
}

// StaticFailures returns Static(i, g, cons) for every node i. The results
// are cached by g's kind and constraints for the life of the cluster (and,
// on a kept cluster, across calls); cons must be g's parsed constraints.
// Read-only.
func (c *Cluster) StaticFailures(g *sdk.TaskGroup, cons []Constraint) []Failure {
	key := signature(g)
	if st, ok := c.static[key]; ok {
		return st.failures
	}
	st := &staticResults{kind: g.Kind, cons: cons, failures: make([]Failure, len(c.Nodes))}
	for i := range c.Nodes {
		st.failures[i] = c.staticOf(i, g.Kind, cons)
	}
	if c.static == nil {
		c.static = make(map[string]*staticResults)
	}
	c.static[key] = st
	return st.failures
}

func signature(g *sdk.TaskGroup) string {
	if len(g.Constraints) == 0 {
		return g.Kind
	}
	return g.Kind + "\x00" + strings.Join(g.Constraints, "\x00")
}
