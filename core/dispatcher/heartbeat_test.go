package dispatcher

import (
	"testing"
	"time"

	"connectrpc.com/connect"
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
		cl := tx.GetCluster("c1")
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
