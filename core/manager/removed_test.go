package manager

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// The removed-node check every RPC makes (agents' heartbeats too) answers
// while the store is busy applying an entry: here a reader holds the store
// and an apply waits for it, which blocks every new reader, as a long
// apply does on a loaded leader. It also follows later removals.
func TestNodeRemovedAnswersWhileTheStoreApplies(t *testing.T) {
	st := store.NewLocal()
	ctx := context.Background()
	cluster := &shoalv1.Cluster{Id: "c1", RemovedNodes: []string{"gone"}}
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.Create(cluster) }); err != nil {
		t.Fatal(err)
	}
	m := &Manager{store: st, log: slog.New(slog.DiscardHandler), stopped: make(chan struct{})}
	m.wg.Add(1)
	go m.followSnapshotInterval()
	defer func() {
		close(m.stopped)
		m.wg.Wait()
	}()
	waitUntil(t, func() bool { return m.removed.Load() != nil })

	// Hold the store: a view that waits, then an apply waiting behind it.
	inView, release := make(chan struct{}), make(chan struct{})
	viewDone := make(chan error, 1)
	go func() {
		viewDone <- st.View(func(store.ReadTx) error {
			close(inView)
			<-release
			return nil
		})
	}()
	<-inView
	applied := make(chan error, 1)
	go func() {
		applied <- st.Update(ctx, func(tx store.Tx) error {
			c := proto.CloneOf(tx.Get(store.KindCluster, "c1").(*shoalv1.Cluster))
			c.RemovedNodes = append(c.RemovedNodes, "later")
			return tx.Update(c)
		})
	}()
	time.Sleep(200 * time.Millisecond) // let the apply queue for the lock

	type answer struct{ gone, alive bool }
	got := make(chan answer, 1)
	go func() { got <- answer{m.nodeRemoved("gone"), m.nodeRemoved("alive")} }()
	select {
	case a := <-got:
		if !a.gone || a.alive {
			t.Errorf("nodeRemoved: gone=%v alive=%v, want true, false", a.gone, a.alive)
		}
	case <-time.After(10 * time.Second):
		t.Error("nodeRemoved waited for the store's apply")
	}
	close(release)
	if err := <-viewDone; err != nil {
		t.Fatal(err)
	}
	if err := <-applied; err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return m.nodeRemoved("later") })
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
