package api

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func TestBadUpdatePolicyIsRefusedNamingTheField(t *testing.T) {
	for _, tc := range []struct {
		name  string
		field string
		cfg   *shoalv1.UpdateConfig
		roll  bool // set as the rollback config
	}{
		{"negative parallelism", "spec.update_config.parallelism", &shoalv1.UpdateConfig{Parallelism: -1}, false},
		{"unknown failure action", "spec.update_config.failure_action", &shoalv1.UpdateConfig{FailureAction: 9}, false},
		{"unknown order", "spec.rollback_config.order", &shoalv1.UpdateConfig{Order: 7}, true},
		{"ratio above 1", "spec.update_config.max_failure_ratio", &shoalv1.UpdateConfig{MaxFailureRatio: 1.5}, false},
		{"negative ratio", "spec.update_config.max_failure_ratio", &shoalv1.UpdateConfig{MaxFailureRatio: -0.1}, false},
		{"negative delay", "spec.update_config.delay", &shoalv1.UpdateConfig{Delay: durationpb.New(-1)}, false},
		{"rollback of a rollback", "spec.rollback_config.failure_action",
			&shoalv1.UpdateConfig{FailureAction: shoalv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_ROLLBACK}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, st, _ := newTestServer(t, Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true})
			ctx := context.Background()
			if _, err := s.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{Spec: goodSpec()})); err != nil {
				t.Fatal(err)
			}
			sp := goodSpec()
			if tc.roll {
				sp.RollbackConfig = tc.cfg
			} else {
				sp.UpdateConfig = tc.cfg
			}
			sp.GetReplicated().Replicas = 1
			_, err := s.UpdateService(ctx, connect.NewRequest(&shoalv1.UpdateServiceRequest{Service: "web", Spec: sp}))
			if codeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("update: want InvalidArgument naming %s, got %v", tc.field, err)
			}
			sp.Name = "other"
			_, err = s.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{Spec: sp}))
			if codeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("create: want InvalidArgument naming %s, got %v", tc.field, err)
			}
			g, _ := s.GetService(ctx, connect.NewRequest(&shoalv1.GetServiceRequest{Service: "web"}))
			if g.Msg.GetService().GetSpec().GetReplicated().GetReplicas() != 3 || countServices(t, st) != 1 {
				t.Fatalf("a refused update changed something: %v", g.Msg.GetService())
			}
		})
	}
}

func TestRollbackReturnsToThePreviousSpec(t *testing.T) {
	s, _, _ := newTestServer(t, Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true})
	ctx := context.Background()
	if _, err := s.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{Spec: goodSpec()})); err != nil {
		t.Fatal(err)
	}
	rollback := connect.NewRequest(&shoalv1.UpdateServiceRequest{Service: "web", Rollback: true})
	_, err := s.UpdateService(ctx, rollback)
	if codeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "previous_spec") {
		t.Fatalf("rollback of a service never updated: want FailedPrecondition naming previous_spec, got %v", err)
	}
	sp := goodSpec()
	sp.Task.GetProcess().Command = []string{"sleep", "2"}
	up, err := s.UpdateService(ctx, connect.NewRequest(&shoalv1.UpdateServiceRequest{Service: "web", Spec: sp}))
	if err != nil {
		t.Fatal(err)
	}
	if st := up.Msg.GetService().GetUpdateStatus(); st.GetState() != shoalv1.UpdateState_UPDATE_STATE_UPDATING || st.GetSpecVersion() != 2 {
		t.Fatalf("a template change starts a roll: status %v", st)
	}
	_, err = s.UpdateService(ctx, connect.NewRequest(&shoalv1.UpdateServiceRequest{Service: "web", Spec: sp, Rollback: true}))
	if codeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("rollback with a spec: want InvalidArgument, got %v", err)
	}
	back, err := s.UpdateService(ctx, rollback)
	if err != nil {
		t.Fatal(err)
	}
	svc := back.Msg.GetService()
	if !proto.Equal(svc.GetSpec(), goodSpec()) || !proto.Equal(svc.GetPreviousSpec(), sp) || svc.GetSpecVersion() != 3 ||
		svc.GetUpdateStatus().GetState() != shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_STARTED {
		t.Fatalf("after rollback: %v", svc)
	}
}
