package dispatcher

import (
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func TestHeartbeatPeriodFollowsClusterSpec(t *testing.T) {
	withCluster := func(st *store.Store) error {
		return st.Update(t.Context(), func(tx store.Tx) error {
			return tx.Create(&shoalv1.Cluster{Id: "c1", Spec: &shoalv1.ClusterSpec{HeartbeatPeriod: durationpb.New(time.Minute)}})
		})
	}
	h := newHarnessSeeded(t, Config{}, withCluster)
	c := h.client("n1")
	first, _ := h.openSession(c, "n1", Version)
	if got := first.GetHeartbeatPeriod().AsDuration(); got != time.Minute {
		t.Fatalf("first message: heartbeat period %v, want the cluster's 1m", got)
	}
	err := h.st.Update(h.ctx, func(tx store.Tx) error {
		cl := proto.CloneOf(tx.GetCluster("c1"))
		cl.Spec.HeartbeatPeriod = durationpb.New(2 * time.Second)
		return tx.Update(cl)
	})
	if err != nil {
		t.Fatal(err)
	}
	h.eventually("heartbeat response carries the new period", func() bool {
		res, err := c.Heartbeat(h.ctx, connect.NewRequest(&shoalv1.HeartbeatRequest{SessionId: first.GetSessionId()}))
		if err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		return res.Msg.GetPeriod().AsDuration() == 2*time.Second
	})
}

func TestClosedSessionStreamMarksDownAfterOnePeriod(t *testing.T) {
	h := newHarness(t, Config{HeartbeatPeriod: 5 * time.Second})
	c := h.client("n1")
	_, stream := h.openSession(c, "n1", Version)
	h.eventually("node READY", func() bool { return h.nodeState("n1") == ready })
	if err := stream.Close(); err != nil {
		t.Fatal(err)
	}
	// The dispatcher notices the closed stream on its own goroutine.
	deadline := time.Now().Add(20 * time.Second)
	for {
		h.d.mu.Lock()
		e := h.d.nodes["n1"]
		shortened := e != nil && e.deadline.Before(h.clock.Now().Add(6*time.Second))
		h.d.mu.Unlock()
		if shortened {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the session's deadline was not shortened after its stream closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.clock.Advance(4 * time.Second)
	time.Sleep(50 * time.Millisecond)
	if s := h.nodeState("n1"); s != ready {
		t.Fatalf("state 4s after the stream closed = %v, want READY (a period to reconnect)", s)
	}
	h.clock.Advance(2 * time.Second)
	h.eventually("node DOWN", func() bool { return h.nodeState("n1") == down })
}

func TestReopenedSessionOutlivesTheClosedStream(t *testing.T) {
	h := newHarness(t, Config{HeartbeatPeriod: 5 * time.Second})
	c := h.client("n1")
	_, stream := h.openSession(c, "n1", Version)
	h.eventually("node READY", func() bool { return h.nodeState("n1") == ready })
	h.openSession(c, "n1", Version)
	if err := stream.Close(); err != nil {
		t.Fatal(err)
	}
	for range 14 { // 7 s, inside the new session's 15 s grace
		h.clock.Advance(500 * time.Millisecond)
		time.Sleep(5 * time.Millisecond)
	}
	if s := h.nodeState("n1"); s != ready || h.d.SessionCount() != 1 {
		t.Fatalf("state 7s after the old stream closed = %v, sessions %d; want READY with the new session", s, h.d.SessionCount())
	}
}
