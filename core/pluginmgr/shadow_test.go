package pluginmgr

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/binpack"
	"github.com/shoal-project/shoal/sdk/policy/spread"
)

func TestCompareAnswersCountsTasksPlacedElsewhereAndNotPlaced(t *testing.T) {
	const u = sdk.Unschedulable
	req := func(counts ...int) *sdk.ScheduleRequest {
		r := &sdk.ScheduleRequest{}
		for _, c := range counts {
			r.Groups = append(r.Groups, sdk.TaskGroup{Count: uint32(c)})
		}
		return r
	}
	answer := func(groups ...[]int32) *sdk.ScheduleResponse {
		a := &sdk.ScheduleResponse{}
		for _, g := range groups {
			a.Groups = append(a.Groups, sdk.GroupResult{Placements: g})
		}
		return a
	}
	for _, tc := range []struct {
		name           string
		req            *sdk.ScheduleRequest
		active, shadow *sdk.ScheduleResponse
		want           Difference
	}{
		{"same answer", req(3), answer([]int32{0, 1, 2}), answer([]int32{0, 1, 2}),
			Difference{Tasks: 3, ActiveNodes: 3, ShadowNodes: 3}},
		{"same nodes in another order is no move", req(3), answer([]int32{0, 1, 2}), answer([]int32{2, 0, 1}),
			Difference{Tasks: 3, ActiveNodes: 3, ShadowNodes: 3}},
		{"packed where spread", req(3), answer([]int32{0, 1, 2}), answer([]int32{1, 1, 1}),
			Difference{Tasks: 3, Moved: 2, ActiveNodes: 3, ShadowNodes: 1}},
		{"shadow cannot place", req(2), answer([]int32{0, 1}), answer([]int32{0, u}),
			Difference{Tasks: 2, Unplaced: 1, ActiveNodes: 2, ShadowNodes: 1}},
		{"shadow places what active could not: neither", req(2), answer([]int32{0, u}), answer([]int32{0, 1}),
			Difference{Tasks: 2, ActiveNodes: 1, ShadowNodes: 2}},
		{"groups add up; nodes counted over the pass", req(2, 2), answer([]int32{0, 1}, []int32{0, 1}), answer([]int32{2, 2}, []int32{0, u}),
			Difference{Tasks: 4, Moved: 2, Unplaced: 1, ActiveNodes: 2, ShadowNodes: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CompareAnswers(tc.req, tc.active, tc.shadow); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func setShadow(t *testing.T, st *store.Store, name string) {
	t.Helper()
	c := &shoalv1.Cluster{Id: "cluster", Spec: &shoalv1.ClusterSpec{ShadowScheduler: name}}
	if err := st.Update(context.Background(), func(tx store.Tx) error { return tx.Create(c) }); err != nil {
		t.Fatal(err)
	}
}

func TestShadowTapHandsOffNothingWithoutAShadow(t *testing.T) {
	m, _ := newManager(t)
	req := request()
	m.ShadowTap()("spread", req, spread.Schedule(req))
	if n := len(m.shadowIn); n != 0 {
		t.Errorf("%d calls handed off with no shadow set", n)
	}
}

func TestShadowTapCopiesTheCallAndDropsWhenBusy(t *testing.T) {
	m, st := newManager(t)
	setShadow(t, st, "binpack")
	req := request()
	active := spread.Schedule(req)
	tap := m.ShadowTap()
	for range ShadowQueue + 2 {
		tap("spread", req, active)
	}
	req.Nodes[0].FreeMemoryBytes = 0 // the pass goes on reserving
	if r := m.ShadowReport("binpack"); r.GetDropped() != 2 || r.GetPasses() != 0 {
		t.Errorf("worker not running: report %v, want 2 dropped", r)
	}
	if c := <-m.shadowIn; c.req.Nodes[0].FreeMemoryBytes != 1<<30 {
		t.Errorf("the queued request changed with the pass's: %+v", c.req.Nodes[0])
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.runShadow(ctx)
	want := CompareAnswers(request(), active, binpack.Schedule(request()))
	if want.Moved == 0 {
		t.Fatal("spread and binpack agree on the test request: the test shows nothing")
	}
	deadline := time.Now().Add(2 * time.Minute)
	for m.ShadowReport("binpack").GetPasses() < ShadowQueue-1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	r := m.ShadowReport("binpack")
	if r.GetPasses() != ShadowQueue-1 || r.GetFailures() != 0 || r.GetMoved() != uint64(want.Moved)*(ShadowQueue-1) ||
		r.GetDifferingPasses() != ShadowQueue-1 || len(r.GetLast()) != ShadowQueue-1 {
		t.Errorf("report %v, want %d passes each moving %d", r, ShadowQueue-1, want.Moved)
	}
}

func TestShadowFailureIsCountedAndKept(t *testing.T) {
	m, st := newManager(t)
	setShadow(t, st, "no-such-plugin")
	req := request()
	m.ShadowTap()("spread", req, spread.Schedule(req))
	c := <-m.shadowIn
	m.recordShadow(c, m.shadowPass(context.Background(), c, map[string]bool{}))
	r := m.ShadowReport("no-such-plugin")
	if r.GetFailures() != 1 || len(r.GetLast()) != 1 || !strings.Contains(r.GetLast()[0].GetError(), "no such plugin") {
		t.Errorf("report %v, want one failure naming the missing plugin", r)
	}
}

func TestShadowForServiceSeesOnlyItsGroups(t *testing.T) {
	m, st := newManager(t)
	ctx := context.Background()
	err := st.Update(ctx, func(tx store.Tx) error {
		if err := tx.Create(&shoalv1.Service{Id: "s1", Spec: &shoalv1.ServiceSpec{Name: "web"}}); err != nil {
			return err
		}
		return tx.Create(&shoalv1.Cluster{Id: "cluster", Spec: &shoalv1.ClusterSpec{ShadowScheduler: "binpack", ShadowService: "web"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	other := request()
	other.Groups[0].ServiceID = "s2"
	m.ShadowTap()("spread", other, spread.Schedule(other))
	if n := len(m.shadowIn); n != 0 {
		t.Fatalf("a pass without web's tasks was handed off")
	}
	both := request()
	g := both.Groups[0]
	g.ServiceID, g.Count, g.TaskIDs = "s2", 1, []string{"e"}
	both.Groups = append(both.Groups, g)
	m.ShadowTap()("spread", both, spread.Schedule(both))
	c := <-m.shadowIn
	p := m.shadowPass(ctx, c, map[string]bool{})
	if p.GetError() != "" || p.GetTasks() != 4 {
		t.Errorf("shadow pass %v: want web's 4 tasks compared", p)
	}
}
