package plugins_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/plugins"
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/evener"
)

// piled is a service of six tasks on n1 (3) and n2 (3) with n3 empty.
func piled() *sdk.RebalanceRequest {
	node := func(id string) sdk.Node {
		return sdk.Node{ID: id, Hostname: id, Ready: true, Kinds: []string{"process"},
			TotalNanoCPUs: 4e9, FreeNanoCPUs: 4e9, TotalMemoryBytes: 8 << 30, FreeMemoryBytes: 8 << 30}
	}
	req := &sdk.RebalanceRequest{Nodes: []sdk.Node{node("n1"), node("n2"), node("n3")},
		Group: sdk.TaskGroup{ServiceID: "web", SpecVersion: 1, Count: 6, Kind: "process"}, MaxMoves: 5}
	for i, n := range []string{"n1", "n1", "n1", "n2", "n2", "n2"} {
		req.Tasks = append(req.Tasks, sdk.RebalanceTask{ID: string(rune('a' + i)), Slot: uint64(i + 1), NodeID: n, State: "running"})
		req.Nodes[i/3].TaskCount++
	}
	return req
}

func TestEvenerGuestAnswersLikeTheNativePolicy(t *testing.T) {
	h, _ := newHost(t, plugins.HostConfig{})
	sha := load(t, h, plugins.Builtin("evener"))
	got, err := h.Rebalance(context.Background(), sha, piled())
	if err != nil {
		t.Fatal(err)
	}
	want := evener.Rebalance(piled())
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("guest and native differ (-native +guest):\n%s", diff)
	}
	if len(got.Moves) != 2 || got.Moves[0].TargetNodeID != "n3" || got.Moves[1].TargetNodeID != "n3" {
		t.Fatalf("moves %+v, want two to n3 (3/3/0 -> 2/2/2)", got.Moves)
	}
}

func TestScheduleOnlyModulesAreNotRebalancers(t *testing.T) {
	h, _ := newHost(t, plugins.HostConfig{})
	ctx := context.Background()
	old := guest(t, "schedonly")
	if _, err := h.Validate(ctx, old, plugins.KindScheduler); err != nil {
		t.Fatalf("a v1 schedule-only module no longer validates as a scheduler: %v", err)
	}
	_, err := h.Validate(ctx, old, plugins.KindRebalancer)
	if !errors.Is(err, plugins.ErrMissingExport) || !strings.Contains(err.Error(), "missing export shoal_rebalance") {
		t.Fatalf("v1 module as a rebalancer: %v, want ErrMissingExport naming shoal_rebalance", err)
	}
	// Built with today's sdk a scheduler has the export but not the capability.
	if _, err := h.Validate(ctx, plugins.Builtin("spread"), plugins.KindRebalancer); !errors.Is(err, plugins.ErrCapability) {
		t.Fatalf("spread as a rebalancer: %v, want ErrCapability", err)
	}
	// And the old module still schedules.
	sha := load(t, h, old)
	if _, err := h.Schedule(ctx, sha, &sdk.ScheduleRequest{}); err != nil {
		t.Fatalf("v1 module schedule: %v", err)
	}
}

// bigPiled is a 10,000-task service on 1,000 nodes, all on the first 900:
// the evener has 100 empty nodes to fill.
func bigPiled(maxMoves uint32) *sdk.RebalanceRequest {
	req := &sdk.RebalanceRequest{Group: sdk.TaskGroup{ServiceID: "web", SpecVersion: 1, Count: 10000, Kind: "process"}, MaxMoves: maxMoves}
	for i := 0; i < 1000; i++ {
		req.Nodes = append(req.Nodes, sdk.Node{ID: fmt.Sprintf("n%04d", i), Ready: true, Kinds: []string{"process"},
			FreeNanoCPUs: 64e9, FreeMemoryBytes: 256 << 30})
	}
	for i := 0; i < 10000; i++ {
		req.Tasks = append(req.Tasks, sdk.RebalanceTask{ID: fmt.Sprintf("t%05d", i), Slot: uint64(i + 1), NodeID: req.Nodes[i%900].ID, State: "running"})
	}
	return req
}

// BenchmarkRebalanceEvener is one rebalance call for a 10,000-task service
// on 1,000 nodes, proposing up to 100 moves: native, and through the
// sandboxed Wasm guest (encode, call, decode).
func BenchmarkRebalanceEvener(b *testing.B) {
	req := bigPiled(100)
	b.Run("native", func(b *testing.B) {
		for b.Loop() {
			evener.Rebalance(req)
		}
	})
	b.Run("wasm", func(b *testing.B) {
		h, _ := newHost(b, plugins.HostConfig{})
		sha := load(b, h, plugins.Builtin("evener"))
		for b.Loop() {
			if _, err := h.Rebalance(context.Background(), sha, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
