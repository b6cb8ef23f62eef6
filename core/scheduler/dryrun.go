package scheduler

import (
	"fmt"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/sdk"
)

// nodeTable reads the node table: every node, with the resources and task
// counts of the tasks that hold them subtracted.
func nodeTable(tx store.ReadTx) ([]sdk.Node, map[string]int, error) {
	nodes, err := tx.FindNodes(store.All())
	if err != nil {
		return nil, nil, err
	}
	var tasks []*shoalv1.Task
	for _, st := range holdingStates {
		ts, err := tx.FindTasks(store.ByTaskState(st))
		if err != nil {
			return nil, nil, err
		}
		tasks = append(tasks, ts...)
	}
	rows, nodeIndex := NodeTable(nodes, tasks)
	return rows, nodeIndex, nil
}

// NodeTable is the node table a pass sends to policies: a row per node,
// in the order given (the store's: by ID), with the resources and task
// counts of the tasks that hold them subtracted. nodeIndex maps a node ID
// to its row.
func NodeTable(nodes []*shoalv1.Node, tasks []*shoalv1.Task) (rows []sdk.Node, nodeIndex map[string]int) {
	nodeIndex = make(map[string]int, len(nodes))
	for _, n := range nodes {
		nodeIndex[n.GetId()] = len(rows)
		rows = append(rows, nodeRow(n))
	}
	for _, t := range tasks {
		if i, ok := nodeIndex[t.GetNodeId()]; ok && holds(t) {
			reserveOn(&rows[i], t.GetServiceId(), reservations(t.GetSpec()))
		}
	}
	return rows, nodeIndex
}

// DryRunRequest builds the request a policy would get to place spec's
// tasks on the cluster as it is now (or, with a nil spec, the pending
// tasks). It changes nothing. The returned labels name each task, in the
// order of the request's groups and tasks.
func DryRunRequest(tx store.ReadTx, spec *shoalv1.ServiceSpec) (*sdk.ScheduleRequest, []string, error) {
	rows, _, err := nodeTable(tx)
	if err != nil {
		return nil, nil, fmt.Errorf("scheduler: read: %w", err)
	}
	req := &sdk.ScheduleRequest{Nodes: rows}
	var labels []string
	if spec != nil {
		g := &group{key: groupKey{service: "dry-run:" + spec.GetName(), version: 1}}
		n := 1
		if r := spec.GetReplicated(); r != nil {
			n = int(r.GetReplicas())
		}
		if spec.GetGlobal() != nil {
			n = len(rows)
		}
		for i := 1; i <= n; i++ {
			id := fmt.Sprintf("%s.%d", spec.GetName(), i)
			g.tasks = append(g.tasks, &shoalv1.Task{Id: id, Slot: uint64(i), Spec: spec.GetTask()})
			labels = append(labels, id)
		}
		if n > 0 {
			req.Groups = append(req.Groups, taskGroup(g))
		}
		return req, labels, nil
	}
	groups, order, err := pendingGroups(tx)
	if err != nil {
		return nil, nil, err
	}
	for _, k := range order {
		g := groups[k]
		req.Groups = append(req.Groups, taskGroup(g))
		for _, t := range g.tasks {
			labels = append(labels, fmt.Sprintf("%s.%d (%s)", t.GetServiceName(), t.GetSlot(), t.GetId()))
		}
	}
	return req, labels, nil
}
