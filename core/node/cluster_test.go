package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func TestMain(m *testing.M) {
	ReexecHooks()
	os.Exit(m.Run())
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// testCluster starts n managers in this process, over real TLS on loopback.
func testCluster(tb testing.TB, managers int) []*Node {
	tb.Helper()
	// SHOAL_RAFT_CONNECT_ONLY=1 runs the managers' Raft on Connect
	// streams only (benchmarks comparing it with the direct path).
	connectOnly := os.Getenv("SHOAL_RAFT_CONNECT_ONLY") != ""
	return testClusterWith(tb, managers, func(int) bool { return connectOnly })
}

// testClusterWith is testCluster with manager i speaking only the Connect
// stream for Raft when connectOnly(i) (a manager from before the direct
// path, in a rolling upgrade).
func testClusterWith(tb testing.TB, managers int, connectOnly func(i int) bool) []*Node {
	tb.Helper()
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("SHOAL_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	base := tb.TempDir()
	first, err := Init(ctx, Config{DataDir: base + "/m0", ListenAddr: freeAddr(tb), Hostname: "m0", Backend: "sim", Logger: logger, RaftConnectOnly: connectOnly(0)})
	if err != nil {
		tb.Fatal(err)
	}
	nodes := []*Node{first}
	tb.Cleanup(func() {
		for _, n := range nodes {
			n.Stop()
		}
	})
	var token string
	err = first.Manager().Store().View(func(tx store.ReadTx) error {
		cs, err := tx.FindClusters(store.All())
		if err != nil || len(cs) == 0 {
			return fmt.Errorf("no cluster: %v", err)
		}
		token = cs[0].GetJoinTokens().GetManager()
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	for i := 1; i < managers; i++ {
		n, err := Join(ctx, Config{DataDir: fmt.Sprintf("%s/m%d", base, i), ListenAddr: freeAddr(tb), Hostname: fmt.Sprintf("m%d", i), Backend: "sim", Logger: logger, RaftConnectOnly: connectOnly(i)}, token, first.Info().AdvertiseAddr)
		if err != nil {
			tb.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	// Wait until every manager sees every member.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, n := range nodes {
			if len(n.Manager().Raft().Members()) != managers {
				ok = false
			}
		}
		if ok {
			return nodes
		}
		if time.Now().After(deadline) {
			tb.Fatal("managers did not all see each other")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func leaderOf(tb testing.TB, nodes []*Node) *Node {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			if m := n.Manager(); m != nil && m.Raft().IsLeader() {
				return n
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.Fatal("no leader")
	return nil
}

func TestThreeManagersInProcess(t *testing.T) {
	for _, tc := range []struct {
		name        string
		connectOnly func(i int) bool
	}{
		{"direct raft path", func(int) bool { return false }},
		// A rolling upgrade: the first manager, and then a follower, from
		// before the direct path; the others fall back to Connect streams
		// towards it.
		{"first manager connect only", func(i int) bool { return i == 0 }},
		{"a follower connect only", func(i int) bool { return i == 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) { threeManagersApplyAWrite(t, testClusterWith(t, 3, tc.connectOnly)) })
	}
}

func threeManagersApplyAWrite(t *testing.T, nodes []*Node) {
	l := leaderOf(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := l.Manager().Store().Update(ctx, func(tx store.Tx) error {
		return tx.Create(&shoalv1.Network{Id: "n1", Spec: &shoalv1.NetworkSpec{Name: "net1"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every manager applies it.
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range nodes {
		for {
			var got *shoalv1.Network
			_ = n.Manager().Store().View(func(tx store.ReadTx) error { got = tx.GetNetwork("n1"); return nil })
			if got != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("manager %s never applied the write", n.Info().NodeID)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// BenchmarkBatch10kThreeManagers creates 10,000 objects through Batch on the
// leader of a 3-manager cluster (real TLS, real Raft, bbolt on disk).
func BenchmarkBatch10kThreeManagers(b *testing.B) {
	nodes := testCluster(b, 3)
	st := leaderOf(b, nodes).Manager().Store()
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		before := st.ProposalCount()
		err := st.Batch(ctx, func(bt *store.Batch) error {
			for j := 0; j < 10000; j++ {
				id := fmt.Sprintf("b%d-%05d", i, j)
				if err := bt.Update(func(tx store.Tx) error {
					return tx.Create(&shoalv1.Network{Id: id, Spec: &shoalv1.NetworkSpec{Name: id, Subnet: "10.0.0.0/24", Driver: "overlay"}})
				}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.ProposalCount()-before), "proposals/op")
	}
}

// BenchmarkUpdateLatencyThreeManagers is the latency of one committed write.
func BenchmarkUpdateLatencyThreeManagers(b *testing.B) {
	nodes := testCluster(b, 3)
	st := leaderOf(b, nodes).Manager().Store()
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("u%d", i)
		if err := st.Update(ctx, func(tx store.Tx) error {
			return tx.Create(&shoalv1.Network{Id: id, Spec: &shoalv1.NetworkSpec{Name: id}})
		}); err != nil {
			b.Fatal(err)
		}
	}
}
