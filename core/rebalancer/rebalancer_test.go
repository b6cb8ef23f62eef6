package rebalancer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/shoal-project/shoal/core/store"
	"github.com/shoal-project/shoal/core/store/storetest"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/clock/clocktest"
	"github.com/shoal-project/shoal/sdk"
)

// fakePolicy answers every call with moves (or err) and counts calls.
type fakePolicy struct {
	mu    sync.Mutex
	calls int
	moves []sdk.Move
	err   error
}

func (f *fakePolicy) Rebalance(_ context.Context, req *sdk.RebalanceRequest) (*sdk.RebalanceResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return &sdk.RebalanceResponse{Moves: f.moves}, f.err
}

func (f *fakePolicy) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

type fakeSource struct{ p *fakePolicy }

func (s fakeSource) Rebalancer(name string) (Policy, error) {
	if name != "fake" {
		return nil, errors.New("no such plugin")
	}
	return s.p, nil
}

// piledStore is state()'s service and nodes in a real store, rebalanced
// by plugin "fake" every interval.
func piledStore(t *testing.T, clk *clocktest.Manual, interval time.Duration) *storetest.Store {
	st := storetest.New(t, store.WithClock(clk.Now))
	s := state()
	s.Service.Spec.Rebalance = &shoalv1.RebalanceConfig{Plugin: "fake", Interval: durationpb.New(interval), MaxMoves: 1}
	objs := []store.Object{s.Service}
	for _, n := range s.Nodes {
		objs = append(objs, n)
	}
	for _, tk := range s.Tasks {
		tk.Meta = nil
		objs = append(objs, tk)
	}
	st.Create(objs...)
	return st
}

func getTask(st *storetest.Store, id string) *shoalv1.Task {
	var out *shoalv1.Task
	_ = st.View(func(tx store.ReadTx) error { out = tx.GetTask(id); return nil })
	return out
}

func TestPassAppliesAtMostMaxMovesAndWaitsForThemToSettle(t *testing.T) {
	clk := clocktest.NewManual()
	st := piledStore(t, clk, time.Minute)
	p := &fakePolicy{moves: []sdk.Move{{TaskID: "t1", TargetNodeID: "n3"}, {TaskID: "t2", TargetNodeID: "n3"}}}
	m := NewMetrics(nil)
	r := New(st.Store, fakeSource{p}, WithClock(clk), WithMetrics(m))
	if wait := r.Pass(context.Background(), "svc"); wait != time.Minute {
		t.Fatalf("next pass in %s, want the interval", wait)
	}
	if got := getTask(st, "t1").GetRebalanceTarget(); got != "n3" {
		t.Fatalf("t1 target %q, want n3", got)
	}
	if got := getTask(st, "t2").GetRebalanceTarget(); got != "" {
		t.Fatalf("t2 moved too (max_moves 1): target %q", got)
	}
	// A move is under way: the next pass does not ask the plugin.
	if wait := r.Pass(context.Background(), "svc"); wait != settleRetry || p.Calls() != 1 {
		t.Fatalf("pass during a move: wait %s, %d plugin calls; want %s, 1", wait, p.Calls(), settleRetry)
	}
}

func TestPassMovesNothingWhenThePluginFails(t *testing.T) {
	clk := clocktest.NewManual()
	st := piledStore(t, clk, time.Minute)
	p := &fakePolicy{moves: []sdk.Move{{TaskID: "t1", TargetNodeID: "n3"}}, err: errors.New("trap")}
	r := New(st.Store, fakeSource{p}, WithClock(clk))
	r.Pass(context.Background(), "svc")
	if got := getTask(st, "t1").GetRebalanceTarget(); got != "" || p.Calls() != 1 {
		t.Fatalf("after a failed call: t1 target %q, %d calls", got, p.Calls())
	}
}

func TestRunPassesEveryIntervalAndAtOnceWhenANodeBecomesReady(t *testing.T) {
	clk := clocktest.NewManual()
	st := piledStore(t, clk, time.Minute)
	p := &fakePolicy{} // proposes nothing: every pass asks again
	r := New(st.Store, fakeSource{p}, WithClock(clk))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting: %s (calls %d)", what, p.Calls())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("Run waits on its timer", func() bool { return clk.Pending() > 0 })
	if p.Calls() != 0 {
		t.Fatalf("a new leader asked the plugin at once (%d calls)", p.Calls())
	}
	clk.Advance(time.Minute)
	waitFor("the first pass one interval after start", func() bool { return p.Calls() == 1 })
	// n3 goes down and comes back: READY again starts a pass without any
	// time passing.
	for _, s := range []shoalv1.NodeState{shoalv1.NodeState_NODE_STATE_DOWN, shoalv1.NodeState_NODE_STATE_READY} {
		st.MustUpdate(func(tx store.Tx) error {
			n := proto.CloneOf(tx.GetNode("n3"))
			n.Status.State = s
			return tx.Update(n)
		})
	}
	waitFor("a pass when n3 is READY again", func() bool { return p.Calls() == 2 })
}

func TestAClusterWideRebalancerTakesEffectWithinItsInterval(t *testing.T) {
	clk := clocktest.NewManual()
	st := piledStore(t, clk, time.Minute)
	st.MustUpdate(func(tx store.Tx) error {
		s := proto.CloneOf(tx.GetService("svc"))
		s.Spec.Rebalance = nil // the service names no rebalancer of its own
		return tx.Update(s)
	})
	st.Create(&shoalv1.Cluster{Id: "c", Spec: &shoalv1.ClusterSpec{}})
	p := &fakePolicy{}
	r := New(st.Store, fakeSource{p}, WithClock(clk))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitUntil(t, "Run waits on its timer", func() bool { return clk.Pending() > 0 })
	st.MustUpdate(func(tx store.Tx) error {
		c := proto.CloneOf(tx.Get(store.KindCluster, "c").(*shoalv1.Cluster))
		c.Spec.Rebalance = &shoalv1.RebalanceConfig{Plugin: "fake", Interval: durationpb.New(5 * time.Second)}
		return tx.Update(c)
	})
	// The service was due a default interval (30 s) after start; the
	// cluster's rebalancer brings that to 5 s.
	waitUntil(t, "the timer is rearmed", func() bool { return clk.Pending() > 0 })
	deadline := time.Now().Add(10 * time.Second)
	for p.Calls() == 0 && time.Now().Before(deadline) {
		clk.Advance(time.Second)
		time.Sleep(20 * time.Millisecond)
		if clk.Now().Sub(clocktest.Start) > 10*time.Second {
			break
		}
	}
	if p.Calls() == 0 || clk.Now().Sub(clocktest.Start) > 10*time.Second {
		t.Fatalf("the cluster's rebalancer was first asked %s after start (calls %d); want within its 5 s interval", clk.Now().Sub(clocktest.Start), p.Calls())
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPassClearsTheMarkOfAFailedMove(t *testing.T) {
	clk := clocktest.NewManual()
	st := piledStore(t, clk, time.Minute)
	st.MustUpdate(func(tx store.Tx) error {
		old := proto.CloneOf(tx.GetTask("t1"))
		old.RebalanceTarget = "n3"
		if err := tx.Update(old); err != nil {
			return err
		}
		return tx.Create(task("t9", 1, "n3", func(t *shoalv1.Task) {
			t.Meta = nil
			t.RebalanceFrom = "t1"
			t.DesiredState = shoalv1.TaskState_TASK_STATE_SHUTDOWN
			t.Status.State = shoalv1.TaskState_TASK_STATE_FAILED
		}))
	})
	p := &fakePolicy{}
	r := New(st.Store, fakeSource{p}, WithClock(clk))
	r.Pass(context.Background(), "svc")
	if got := getTask(st, "t1").GetRebalanceTarget(); got != "" {
		t.Fatalf("t1 still marked to move to %q after its replacement failed", got)
	}
}
