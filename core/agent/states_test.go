package agent

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/dispatcher"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/internal/poll"
	"github.com/shoal-project/shoal/runtime/sim"
)

// recordingClient records every status report the agent sends.
type recordingClient struct {
	shoalv1connect.DispatcherServiceClient
	rec *statusLog
}

type statusLog struct {
	mu     sync.Mutex
	states map[string][]shoalv1.TaskState
}

func (c recordingClient) UpdateTaskStatus(ctx context.Context, req *connect.Request[shoalv1.UpdateTaskStatusRequest]) (*connect.Response[shoalv1.UpdateTaskStatusResponse], error) {
	c.rec.mu.Lock()
	for _, u := range req.Msg.GetUpdates() {
		c.rec.states[u.GetTaskId()] = append(c.rec.states[u.GetTaskId()], u.GetStatus().GetState())
	}
	c.rec.mu.Unlock()
	return c.DispatcherServiceClient.UpdateTaskStatus(ctx, req)
}

func (l *statusLog) get(id string) []shoalv1.TaskState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.states[id])
}

func TestStatesOnlyMoveForward(t *testing.T) {
	m := newManager(t, dispatcher.Config{})
	clock := sim.NewManualClock(time.Unix(0, 0))
	b := simBackend(t, clock, sim.Config{StartLatency: time.Second, RunTime: 3 * time.Second})
	autoAdvance(t, clock, 2*time.Millisecond)
	cl := newClients(t, "n1", map[string]string{"m1": m.srv.URL})
	rec := &statusLog{states: make(map[string][]shoalv1.TaskState)}
	client := func(addr string) shoalv1connect.DispatcherServiceClient {
		return recordingClient{cl.client(addr), rec}
	}
	startAgent(t, Config{NodeID: "n1", Managers: []string{"m1"}, Client: client, Backend: b, Clock: agentClock{clock}})
	for i := range 5 {
		m.create(t, processTask(fmt.Sprintf("t%d", i), "n1", "true"))
	}
	for i := range 5 {
		id := fmt.Sprintf("t%d", i)
		poll.Until(t, id+" COMPLETE", func() bool { return m.state(id) == stComplete })
		got := rec.get(id)
		if !slices.IsSorted(got) {
			t.Fatalf("%s reports went backward: %v", id, got)
		}
		// STARTING is reported before Start blocks for StartLatency, so it
		// is sent on its own; RUNNING and COMPLETE follow.
		for _, want := range []shoalv1.TaskState{shoalv1.TaskState_TASK_STATE_STARTING, stRunning, stComplete} {
			if !slices.Contains(got, want) {
				t.Fatalf("%s reports %v lack %v", id, got, want)
			}
		}
	}
}

// TestManyNodes runs 50 simulated nodes with 40 tasks each against one
// dispatcher, with agents keeping their state in memory.
func TestManyNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test")
	}
	const nodes, perNode = 50, 40
	m := newManager(t, dispatcher.Config{})
	clock := sim.NewManualClock(time.Unix(0, 0))
	autoAdvance(t, clock, 5*time.Millisecond)
	var tasks []*shoalv1.Task
	for n := range nodes {
		node := fmt.Sprintf("node%02d", n)
		b := simBackend(t, clock, sim.Config{StartLatency: 500 * time.Millisecond})
		cl := newClients(t, node, map[string]string{"m1": m.srv.URL})
		startAgent(t, Config{NodeID: node, Managers: []string{"m1"}, Client: cl.client, Backend: b, Clock: agentClock{clock}})
		for i := range perNode {
			tasks = append(tasks, processTask(fmt.Sprintf("%s-t%02d", node, i), node, "sleep", "1"))
		}
	}
	start := time.Now()
	before := m.st.ProposalCount()
	m.create(t, tasks...)
	poll.Until(t, "all RUNNING", func() bool {
		for _, tk := range tasks {
			if m.state(tk.GetId()) != stRunning {
				return false
			}
		}
		return true
	})
	t.Logf("%d tasks on %d nodes RUNNING in %v with %d proposals", len(tasks), nodes, time.Since(start), m.st.ProposalCount()-before)
}
