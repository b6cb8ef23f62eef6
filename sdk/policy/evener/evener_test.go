package evener_test

import (
	"testing"

	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/evener"
)

func req(nodes []string, on ...string) *sdk.RebalanceRequest {
	r := &sdk.RebalanceRequest{Group: sdk.TaskGroup{ServiceID: "s", Count: uint32(len(on))}}
	for _, n := range nodes {
		r.Nodes = append(r.Nodes, sdk.Node{ID: n, Ready: true, FreeNanoCPUs: 1e9, FreeMemoryBytes: 1 << 30})
	}
	for i, n := range on {
		r.Tasks = append(r.Tasks, sdk.RebalanceTask{ID: string(rune('a' + i)), Slot: uint64(i + 1), NodeID: n, State: "running"})
	}
	return r
}

func counts(r *sdk.RebalanceRequest, moves []sdk.Move) map[string]int {
	where := map[string]string{}
	for _, t := range r.Tasks {
		where[t.ID] = t.NodeID
	}
	for _, m := range moves {
		where[m.TaskID] = m.TargetNodeID
	}
	out := map[string]int{}
	for _, n := range where {
		out[n]++
	}
	return out
}

func TestEvenerEvensToWithinOne(t *testing.T) {
	r := req([]string{"a", "b", "c"}, "a", "a", "a", "b", "b", "b")
	resp := evener.Rebalance(r)
	if c := counts(r, resp.Moves); c["a"] != 2 || c["b"] != 2 || c["c"] != 2 || len(resp.Moves) != 2 {
		t.Fatalf("after %d moves: %v, want 2/2/2 in 2 moves", len(resp.Moves), c)
	}
}

func TestEvenerLeavesAnEvenServiceAlone(t *testing.T) {
	for _, on := range [][]string{{"a", "b", "c"}, {"a", "b", "c", "a"}, {"a", "a", "b", "b", "c"}} {
		if resp := evener.Rebalance(req([]string{"a", "b", "c"}, on...)); len(resp.Moves) != 0 {
			t.Errorf("%v: moves %v, want none", on, resp.Moves)
		}
	}
}

func TestEvenerRespectsTheBudgetAndIneligibleNodes(t *testing.T) {
	r := req([]string{"a", "b", "c"}, "a", "a", "a", "a", "a", "a")
	r.MaxMoves = 1
	if resp := evener.Rebalance(r); len(resp.Moves) != 1 {
		t.Fatalf("budget 1: %d moves", len(resp.Moves))
	}
	r.MaxMoves = 0
	r.Nodes[2].Ready = false // c is down: only b may take tasks
	resp := evener.Rebalance(r)
	if c := counts(r, resp.Moves); c["a"] != 3 || c["b"] != 3 || c["c"] != 0 {
		t.Fatalf("with c down: %v, want 3/3/0", c)
	}
}

func TestEvenerMovesOnlyRunningTasks(t *testing.T) {
	r := req([]string{"a", "b"}, "a", "a", "a")
	for i := range r.Tasks {
		r.Tasks[i].State = "starting"
	}
	if resp := evener.Rebalance(r); len(resp.Moves) != 0 {
		t.Fatalf("moves %v of tasks that do not run", resp.Moves)
	}
}
