package pluginmgr

import (
	"context"
	"testing"
	"time"

	"github.com/shoal-project/shoal/sdk"
)

func TestBuiltinRebalancerAndKindChecks(t *testing.T) {
	m, _ := newManager(t)
	if _, err := m.Rebalancer("spread"); err == nil {
		t.Fatal("spread (a scheduler) served as a rebalancer")
	}
	if _, err := m.Policy("evener"); err == nil {
		t.Fatal("evener (a rebalancer) served as a scheduler")
	}
	p, err := m.Rebalancer("evener")
	if err != nil {
		t.Fatal(err)
	}
	req := &sdk.RebalanceRequest{
		Nodes: []sdk.Node{{ID: "n1", Ready: true}, {ID: "n2", Ready: true}},
		Group: sdk.TaskGroup{ServiceID: "s", Count: 2},
		Tasks: []sdk.RebalanceTask{{ID: "a", Slot: 1, NodeID: "n1", State: "running"}, {ID: "b", Slot: 2, NodeID: "n1", State: "running"}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := p.Rebalance(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Moves) != 1 || resp.Moves[0].TargetNodeID != "n2" {
		t.Fatalf("moves %+v, want one to n2", resp.Moves)
	}
	if st := m.Stats("evener"); st.GetCalls() != 1 || st.GetFailures() != 0 {
		t.Fatalf("stats %+v", st)
	}
}
