package chaos

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"connectrpc.com/connect"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
)

// converged says whether the healed cluster is where it should be: three
// reachable voters and a leader, every node ready, every service at its
// replica count, no slot with two running tasks, and every manager's
// store equal (the same services, tasks and nodes at the same versions).
func (c *cluster) converged() error {
	m := c.leader() // its own view of the members is the one that counts
	if m == nil {
		return errNoLeader
	}
	if err := c.healthy(m); err != nil {
		return err
	}
	if err := replicasRunning(m.api); err != nil {
		return err
	}
	var first map[string]uint64
	for _, m := range c.managers {
		api, err := localClient(m)
		if err != nil {
			return err
		}
		objs, err := versions(api)
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		if first == nil {
			first = objs
		} else if !maps.Equal(first, objs) {
			return fmt.Errorf("%s's store differs from %s's: %s", m.name, c.managers[0].name, diff(first, objs))
		}
	}
	return nil
}

// replicasRunning: every service runs its replica count, each slot once.
func replicasRunning(api *client.Client) error {
	ctx := context.Background()
	res, err := api.Control.ListServices(ctx, connect.NewRequest(&shoalv1.ListServicesRequest{}))
	if err != nil {
		return err
	}
	for i, s := range res.Msg.GetServices() {
		st := res.Msg.GetStatuses()[i]
		if st.GetRunningTasks() != st.GetDesiredTasks() {
			return fmt.Errorf("service %s: %d of %d tasks running", s.GetSpec().GetName(), st.GetRunningTasks(), st.GetDesiredTasks())
		}
	}
	tasks, err := api.Control.ListTasks(ctx, connect.NewRequest(&shoalv1.ListTasksRequest{}))
	if err != nil {
		return err
	}
	running := map[string]int{}
	for _, t := range tasks.Msg.GetTasks() {
		if t.GetStatus().GetState() == shoalv1.TaskState_TASK_STATE_RUNNING {
			slot := fmt.Sprintf("%s.%d", t.GetServiceId(), t.GetSlot())
			if running[slot]++; running[slot] > 1 {
				return fmt.Errorf("slot %s has %d running tasks", slot, running[slot])
			}
		}
	}
	return nil
}

// versions lists the services, tasks and nodes of api's store as
// kind/id -> version.
func versions(api *client.Client) (map[string]uint64, error) {
	ctx := context.Background()
	out := map[string]uint64{}
	svcs, err := api.Control.ListServices(ctx, connect.NewRequest(&shoalv1.ListServicesRequest{}))
	if err != nil {
		return nil, err
	}
	for _, s := range svcs.Msg.GetServices() {
		out["service/"+s.GetId()] = s.GetMeta().GetVersion()
	}
	tasks, err := api.Control.ListTasks(ctx, connect.NewRequest(&shoalv1.ListTasksRequest{}))
	if err != nil {
		return nil, err
	}
	for _, t := range tasks.Msg.GetTasks() {
		out["task/"+t.GetId()] = t.GetMeta().GetVersion()
	}
	nodes, err := api.Control.ListNodes(ctx, connect.NewRequest(&shoalv1.ListNodesRequest{}))
	if err != nil {
		return nil, err
	}
	for _, n := range nodes.Msg.GetNodes() {
		out["node/"+n.GetId()] = n.GetMeta().GetVersion()
	}
	return out, nil
}

// diff names the first few objects two stores disagree on.
func diff(a, b map[string]uint64) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if vb, ok := b[k]; !ok || vb != a[k] {
			out = append(out, fmt.Sprintf("%s %d/%d", k, a[k], vb))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if _, ok := a[k]; !ok {
			out = append(out, fmt.Sprintf("%s -/%d", k, b[k]))
		}
	}
	if len(out) > 5 {
		out = append(out[:5], fmt.Sprintf("and %d more", len(out)-5))
	}
	return fmt.Sprint(out)
}
