package scheduler

import (
	"math"

	"github.com/shoal-project/shoal/core/taskspec"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/sdk"
)

type resources struct{ cpu, mem int64 }

func reservations(spec *shoalv1.TaskSpec) resources {
	r := spec.GetResources().GetReservations()
	return resources{cpu: r.GetNanoCpus(), mem: r.GetMemoryBytes()}
}

// nodeRow turns a stored node into a row of the node table, with all its
// resources free.
func nodeRow(n *shoalv1.Node) sdk.Node {
	res := n.GetDescription().GetResources()
	row := sdk.Node{
		ID:               n.GetId(),
		Hostname:         n.GetDescription().GetHostname(),
		Ready:            n.GetStatus().GetState() == shoalv1.NodeState_NODE_STATE_READY,
		Kinds:            n.GetDescription().GetKinds(),
		TotalNanoCPUs:    res.GetNanoCpus(),
		FreeNanoCPUs:     res.GetNanoCpus(),
		TotalMemoryBytes: res.GetMemoryBytes(),
		FreeMemoryBytes:  res.GetMemoryBytes(),
		Labels:           n.GetSpec().GetLabels(),
	}
	switch n.GetSpec().GetAvailability() {
	case shoalv1.NodeAvailability_NODE_AVAILABILITY_PAUSE:
		row.Availability = sdk.AvailabilityPause
	case shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN:
		row.Availability = sdk.AvailabilityDrain
	}
	if n.GetRole() == shoalv1.NodeRole_NODE_ROLE_MANAGER {
		row.Role = sdk.RoleManager
	}
	return row
}

// reserve counts one task of service with r on the row.
func reserveOn(row *sdk.Node, service string, r resources) {
	row.FreeNanoCPUs -= r.cpu
	row.FreeMemoryBytes -= r.mem
	row.TaskCount++
	if row.ServiceTasks == nil {
		row.ServiceTasks = make(map[string]uint32)
	}
	row.ServiceTasks[service]++
}

// taskGroup describes a group of identical pending tasks for a policy.
func taskGroup(g *group) sdk.TaskGroup {
	spec := g.tasks[0].GetSpec()
	r := reservations(spec)
	pl := spec.GetPlacement()
	tg := sdk.TaskGroup{
		ServiceID:   g.key.service,
		SpecVersion: g.key.version,
		Count:       uint32(len(g.tasks)),
		TaskIDs:     make([]string, len(g.tasks)),
		Kind:        string(taskspec.Kind(spec)),
		Constraints: pl.GetConstraints(),
		NanoCPUs:    r.cpu,
		MemoryBytes: r.mem,
	}
	if m := pl.GetMaxReplicas(); m > 0 {
		tg.MaxReplicasPerNode = uint32(min(m, math.MaxUint32))
	}
	if taskspec.HasMode(g.tasks[0].GetEndpoint().GetPorts(), taskspec.ModeHost) {
		// A host-mode port is bound on the task's node: one task of the
		// service per node. (No other service publishes the same port:
		// the API refuses it, so this is the whole rule.)
		tg.MaxReplicasPerNode = 1
	}
	for _, p := range pl.GetPreferences() {
		tg.Preferences = append(tg.Preferences, p.GetSpreadDescriptor())
	}
	if g.key.node != "" {
		tg.Constraints = append(append([]string(nil), tg.Constraints...), "node.id=="+g.key.node)
	}
	for i, t := range g.tasks {
		tg.TaskIDs[i] = t.GetId()
	}
	return tg
}

// ServiceGroup describes tasks (live tasks of one service, at least one)
// as the group a policy would get to place them: what the rebalancer sends
// its plugins, so both kinds see a service the same way.
func ServiceGroup(tasks []*shoalv1.Task) sdk.TaskGroup {
	t := tasks[0]
	tg := taskGroup(&group{key: groupKey{service: t.GetServiceId(), version: t.GetSpecVersion()}, tasks: tasks})
	tg.Count, tg.TaskIDs = uint32(len(tasks)), nil
	return tg
}
