package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/ca"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// fakeCluster is a one-manager Raft group.
type fakeCluster struct {
	members   []Member
	removed   []uint64
	transfers int
}

func (f *fakeCluster) ReadBarrier(context.Context) error { return nil }
func (f *fakeCluster) Members() []Member                 { return f.members }
func (f *fakeCluster) RemoveMember(_ context.Context, id uint64) error {
	f.removed = append(f.removed, id)
	return nil
}
func (f *fakeCluster) Status() (uint64, uint64) { return 1, 1 }
func (f *fakeCluster) TransferLeadership(context.Context) error {
	f.transfers++
	return nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 7
	}
	return len(p), nil
}

var _ io.Reader = zeroReader{}

func newTestServer(t *testing.T, members ...Member) (*Server, *store.Store, *fakeCluster) {
	t.Helper()
	return newTestServerOn(t, store.NewLocal(), members...)
}

// newTestServerOn is newTestServer over the given (empty) store.
func newTestServerOn(t *testing.T, st *store.Store, members ...Member) (*Server, *store.Store, *fakeCluster) {
	t.Helper()
	fc := &fakeCluster{members: members}
	root, err := ca.NewRootCA("c1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = st.Update(ctx, func(tx store.Tx) error {
		if err := tx.Create(&shoalv1.Cluster{Id: "c1", Spec: &shoalv1.ClusterSpec{Name: "default"}, RootCa: &shoalv1.RootCA{CaCertPem: root.CertPEM, CaKeyPem: root.KeyPEM}}); err != nil {
			return err
		}
		for _, m := range members {
			if err := tx.Create(&shoalv1.Node{Id: m.NodeID, Role: shoalv1.NodeRole_NODE_ROLE_MANAGER, Spec: &shoalv1.NodeSpec{DesiredRole: shoalv1.NodeRole_NODE_ROLE_MANAGER}, Description: &shoalv1.NodeDescription{Hostname: m.NodeID}}); err != nil {
				return err
			}
		}
		return tx.Create(&shoalv1.Node{Id: "w1", Role: shoalv1.NodeRole_NODE_ROLE_WORKER, Spec: &shoalv1.NodeSpec{}, Description: &shoalv1.NodeDescription{Hostname: "worker1"}, Status: &shoalv1.NodeStatus{State: shoalv1.NodeState_NODE_STATE_READY}})
	})
	if err != nil {
		t.Fatal(err)
	}
	return New(st, fc, slog.New(slog.DiscardHandler), WithRand(zeroReader{})), st, fc
}

func codeOf(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return 0
}

func countServices(t *testing.T, st *store.Store) int {
	n := 0
	_ = st.View(func(tx store.ReadTx) error { n, _ = tx.Count(store.KindService, store.All()); return nil })
	return n
}

func TestCreateServiceRefusesBadInputAndStoresNothing(t *testing.T) {
	s, st, _ := newTestServer(t, Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true})
	ctx := context.Background()
	bad := goodSpec()
	bad.Task.GetProcess().Command = nil
	_, err := s.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{Spec: bad}))
	if codeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("want InvalidArgument, got %v", err)
	}
	if n := countServices(t, st); n != 0 {
		t.Fatalf("%d services stored after a refused create", n)
	}
	if _, err := s.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{Spec: goodSpec()})); err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{Spec: goodSpec()}))
	if codeOf(err) != connect.CodeAlreadyExists || !strings.Contains(err.Error(), "spec.name") {
		t.Fatalf("duplicate name: want AlreadyExists naming spec.name, got %v", err)
	}
	sched := goodSpec()
	sched.Name, sched.Scheduler = "other", "nosuch"
	_, err = s.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{Spec: sched}))
	if codeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), "spec.scheduler") {
		t.Fatalf("unknown scheduler: want NotFound naming spec.scheduler, got %v", err)
	}
	if n := countServices(t, st); n != 1 {
		t.Fatalf("want 1 service, have %d", n)
	}
}

func TestUnknownObjectsAreNotFound(t *testing.T) {
	s, _, _ := newTestServer(t, Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true})
	ctx := context.Background()
	calls := map[string]error{}
	_, calls["GetNode"] = s.GetNode(ctx, connect.NewRequest(&shoalv1.GetNodeRequest{Node: "nope"}))
	_, calls["UpdateNode"] = s.UpdateNode(ctx, connect.NewRequest(&shoalv1.UpdateNodeRequest{Node: "nope", LabelAdd: map[string]string{"a": "b"}}))
	_, calls["RemoveNode"] = s.RemoveNode(ctx, connect.NewRequest(&shoalv1.RemoveNodeRequest{Node: "nope"}))
	_, calls["GetService"] = s.GetService(ctx, connect.NewRequest(&shoalv1.GetServiceRequest{Service: "nope"}))
	_, calls["RemoveService"] = s.RemoveService(ctx, connect.NewRequest(&shoalv1.RemoveServiceRequest{Service: "nope"}))
	_, calls["ListTasks"] = s.ListTasks(ctx, connect.NewRequest(&shoalv1.ListTasksRequest{Service: "nope"}))
	for name, err := range calls {
		if codeOf(err) != connect.CodeNotFound {
			t.Errorf("%s: want NotFound, got %v", name, err)
		}
	}
}

func TestManagerRemovalGuards(t *testing.T) {
	s, st, fc := newTestServer(t,
		Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true},
		Member{RaftID: 2, NodeID: "m2", Reachable: true},
		Member{RaftID: 3, NodeID: "m3", Reachable: false})
	ctx := context.Background()
	_, err := s.RemoveNode(ctx, connect.NewRequest(&shoalv1.RemoveNodeRequest{Node: "m2"}))
	if codeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "with force") {
		t.Fatalf("reachable manager without --force: got %v", err)
	}
	// Removing m2 would leave m1 of {m1, m3} reachable: below quorum.
	_, err = s.DemoteNode(ctx, connect.NewRequest(&shoalv1.DemoteNodeRequest{Node: "m2"}))
	if codeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "quorum") {
		t.Fatalf("demote below quorum: got %v", err)
	}
	if len(fc.removed) != 0 {
		t.Fatalf("raft members removed despite refusals: %v", fc.removed)
	}
	// The unreachable one can go.
	if _, err := s.RemoveNode(ctx, connect.NewRequest(&shoalv1.RemoveNodeRequest{Node: "m3"})); err != nil {
		t.Fatal(err)
	}
	var removed []string
	_ = st.View(func(tx store.ReadTx) error {
		cs, _ := tx.FindClusters(store.All())
		removed = cs[0].GetRemovedNodes()
		return nil
	})
	if len(removed) != 1 || removed[0] != "m3" {
		t.Fatalf("removed nodes = %v, want [m3]", removed)
	}
}

func TestLastManagerCannotBeDemoted(t *testing.T) {
	s, _, fc := newTestServer(t, Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true})
	_, err := s.DemoteNode(context.Background(), connect.NewRequest(&shoalv1.DemoteNodeRequest{Node: "m1"}))
	if codeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "last manager") {
		t.Fatalf("want FailedPrecondition about the last manager, got %v", err)
	}
	if len(fc.removed) != 0 {
		t.Fatal("member removed")
	}
}

func TestWorkerReadyNeedsForce(t *testing.T) {
	s, _, _ := newTestServer(t, Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true})
	ctx := context.Background()
	_, err := s.RemoveNode(ctx, connect.NewRequest(&shoalv1.RemoveNodeRequest{Node: "worker1"}))
	if codeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("ready worker without --force: got %v", err)
	}
	if _, err := s.RemoveNode(ctx, connect.NewRequest(&shoalv1.RemoveNodeRequest{Node: "worker1", Force: true})); err != nil {
		t.Fatal(err)
	}
}

func TestUpdateServiceStaleVersion(t *testing.T) {
	s, _, _ := newTestServer(t, Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true})
	ctx := context.Background()
	res, err := s.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{Spec: goodSpec()}))
	if err != nil {
		t.Fatal(err)
	}
	v := res.Msg.GetService().GetMeta().GetVersion()
	sp := goodSpec()
	sp.GetReplicated().Replicas = 5
	if _, err := s.UpdateService(ctx, connect.NewRequest(&shoalv1.UpdateServiceRequest{Service: "web", Version: v, Spec: sp})); err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateService(ctx, connect.NewRequest(&shoalv1.UpdateServiceRequest{Service: "web", Version: v, Spec: sp}))
	if codeOf(err) != connect.CodeAborted {
		t.Fatalf("stale version: want Aborted, got %v", err)
	}
	g, _ := s.GetService(ctx, connect.NewRequest(&shoalv1.GetServiceRequest{Service: "web"}))
	if g.Msg.GetService().GetSpecVersion() != 1 {
		t.Fatalf("scaling changed the spec version to %d; only task changes should", g.Msg.GetService().GetSpecVersion())
	}
}

func TestRotateJoinTokenAndRedaction(t *testing.T) {
	s, _, _ := newTestServer(t, Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true})
	ctx := context.Background()
	res, err := s.RotateJoinToken(ctx, connect.NewRequest(&shoalv1.RotateJoinTokenRequest{Role: shoalv1.NodeRole_NODE_ROLE_WORKER}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.ParseJoinToken(res.Msg.GetTokens().GetWorker()); err != nil {
		t.Fatalf("rotated token does not parse: %v", err)
	}
	c, err := s.GetCluster(ctx, connect.NewRequest(&shoalv1.GetClusterRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Msg.GetCluster().GetRootCa().GetCaKeyPem()) != 0 || c.Msg.GetCluster().GetJoinTokens() != nil {
		t.Fatal("GetCluster leaks the CA key or the join tokens")
	}
	_, err = s.RotateJoinToken(ctx, connect.NewRequest(&shoalv1.RotateJoinTokenRequest{}))
	if codeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("no role: want InvalidArgument, got %v", err)
	}
}

func TestDemotingTheLeaderHandsLeadershipOver(t *testing.T) {
	s, _, fc := newTestServer(t,
		Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true},
		Member{RaftID: 2, NodeID: "m2", Reachable: true},
		Member{RaftID: 3, NodeID: "m3", Reachable: true})
	_, err := s.DemoteNode(context.Background(), connect.NewRequest(&shoalv1.DemoteNodeRequest{Node: "m1"}))
	if codeOf(err) != connect.CodeUnavailable || !errors.Is(err, ErrLeadershipMoved) {
		t.Fatalf("want Unavailable (leadership moved), got %v", err)
	}
	if fc.transfers != 1 || len(fc.removed) != 0 {
		t.Fatalf("transfers %d, removed %v: want one transfer and no removal yet", fc.transfers, fc.removed)
	}
}

// A manager still joining as a Raft learner votes in no quorum: removing
// it is always safe, and it never counts toward the voters left.
func TestLearnersDoNotCountTowardQuorum(t *testing.T) {
	ctx := context.Background()
	t.Run("remove an absent learner beside an unreachable voter", func(t *testing.T) {
		s, _, fc := newTestServer(t,
			Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true},
			Member{RaftID: 2, NodeID: "m2"},
			Member{RaftID: 3, NodeID: "m3", Learner: true})
		if _, err := s.RemoveNode(ctx, connect.NewRequest(&shoalv1.RemoveNodeRequest{Node: "m3"})); err != nil {
			t.Fatalf("remove learner: %v", err)
		}
		if len(fc.removed) != 1 || fc.removed[0] != 3 {
			t.Fatalf("removed = %v", fc.removed)
		}
	})
	t.Run("the leader beside a learner is the last manager", func(t *testing.T) {
		s, _, fc := newTestServer(t,
			Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true},
			Member{RaftID: 2, NodeID: "m2", Reachable: true, Learner: true})
		_, err := s.DemoteNode(ctx, connect.NewRequest(&shoalv1.DemoteNodeRequest{Node: "m1"}))
		if codeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "last manager") {
			t.Fatalf("want the last-manager refusal, got %v", err)
		}
		if len(fc.removed) != 0 || fc.transfers != 0 {
			t.Fatalf("removed %v, transfers %d", fc.removed, fc.transfers)
		}
	})
	t.Run("demote an unreachable voter when the reachable voters stay a quorum", func(t *testing.T) {
		s, _, fc := newTestServer(t,
			Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true},
			Member{RaftID: 2, NodeID: "m2"},
			Member{RaftID: 3, NodeID: "m3", Learner: true})
		if _, err := s.DemoteNode(ctx, connect.NewRequest(&shoalv1.DemoteNodeRequest{Node: "m2"})); err != nil {
			t.Fatalf("demote m2: %v", err)
		}
		if len(fc.removed) != 1 || fc.removed[0] != 2 {
			t.Fatalf("removed = %v", fc.removed)
		}
	})
}

func TestJoinSpecTakesTheJoinersAvailabilityAndLabels(t *testing.T) {
	cases := []struct {
		name    string
		req     *shoalv1.IssueNodeCertificateRequest
		want    shoalv1.NodeAvailability
		wantErr string
	}{
		{"unspecified is active", &shoalv1.IssueNodeCertificateRequest{}, shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE, ""},
		{"drain with labels", &shoalv1.IssueNodeCertificateRequest{Availability: shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN, Labels: map[string]string{"zone": "a"}}, shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN, ""},
		{"unknown availability", &shoalv1.IssueNodeCertificateRequest{Availability: 42}, 0, "availability 42"},
		{"bad label key", &shoalv1.IssueNodeCertificateRequest{Labels: map[string]string{"bad key": "v"}}, 0, "labels: label key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := joinSpec(tc.req)
			if tc.wantErr != "" {
				if codeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want InvalidArgument naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || sp.GetAvailability() != tc.want || len(sp.GetLabels()) != len(tc.req.GetLabels()) {
				t.Fatalf("spec = %v, %v; want availability %v and the request's labels", sp, err, tc.want)
			}
		})
	}
}
