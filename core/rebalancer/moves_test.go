package rebalancer

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/sdk"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func node(id string, edit ...func(*shoalv1.Node)) *shoalv1.Node {
	n := &shoalv1.Node{
		Id:          id,
		Spec:        &shoalv1.NodeSpec{Availability: shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE, Labels: map[string]string{"zone": "a"}},
		Description: &shoalv1.NodeDescription{Hostname: id, Kinds: []string{"process"}, Resources: &shoalv1.Resources{NanoCpus: 4e9, MemoryBytes: 4 << 30}},
		Status:      &shoalv1.NodeStatus{State: shoalv1.NodeState_NODE_STATE_READY},
		Role:        shoalv1.NodeRole_NODE_ROLE_WORKER,
	}
	for _, e := range edit {
		e(n)
	}
	return n
}

func task(id string, slot uint64, nodeID string, edit ...func(*shoalv1.Task)) *shoalv1.Task {
	t := &shoalv1.Task{
		Id: id, ServiceId: "svc", Slot: slot, NodeId: nodeID, SpecVersion: 1,
		Meta:         &shoalv1.Meta{CreatedAt: timestamppb.New(t0.Add(-time.Hour))},
		Spec:         &shoalv1.TaskSpec{Runtime: &shoalv1.TaskSpec_Process{Process: &shoalv1.ProcessSpec{Command: []string{"sleep"}}}},
		DesiredState: shoalv1.TaskState_TASK_STATE_RUNNING,
		Status:       &shoalv1.TaskStatus{State: shoalv1.TaskState_TASK_STATE_RUNNING},
	}
	for _, e := range edit {
		e(t)
	}
	return t
}

// state is a service of four tasks piled on n1 (3) and n2 (1), n3 empty.
func state(edit ...func(*State)) *State {
	s := &State{
		Service: &shoalv1.Service{Id: "svc", SpecVersion: 1, Spec: &shoalv1.ServiceSpec{Name: "web",
			Mode: &shoalv1.ServiceSpec_Replicated{Replicated: &shoalv1.ReplicatedMode{Replicas: 4}}}},
		Tasks:  []*shoalv1.Task{task("t1", 1, "n1"), task("t2", 2, "n1"), task("t3", 3, "n1"), task("t4", 4, "n2")},
		Nodes:  []*shoalv1.Node{node("n1"), node("n2"), node("n3")},
		Now:    t0,
		Config: Config{Plugin: "evener", Interval: time.Minute, MaxMoves: 10, Window: 5 * time.Minute},
	}
	s.Holding = s.Tasks
	for _, e := range edit {
		e(s)
	}
	return s
}

func verdicts(s *State, moves ...sdk.Move) []Move {
	req := Request(s)
	return Validate(s, req, &sdk.RebalanceResponse{Moves: moves})
}

func TestValidateRejectsEachInvalidMoveWithItsReason(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    *State
		move sdk.Move
		want string
	}{
		{"valid", state(), sdk.Move{TaskID: "t1", TargetNodeID: "n3"}, ""},
		{"unknown task", state(), sdk.Move{TaskID: "nope", TargetNodeID: "n3"}, ReasonUnknownTask},
		{"unknown node", state(), sdk.Move{TaskID: "t1", TargetNodeID: "n9"}, ReasonUnknownNode},
		{"same node", state(), sdk.Move{TaskID: "t1", TargetNodeID: "n1"}, ReasonSameNode},
		{"target not ready", state(func(s *State) {
			s.Nodes[2].Status.State = shoalv1.NodeState_NODE_STATE_DOWN
		}), sdk.Move{TaskID: "t1", TargetNodeID: "n3"}, ReasonNotReady},
		{"target drained", state(func(s *State) {
			s.Nodes[2].Spec.Availability = shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN
		}), sdk.Move{TaskID: "t1", TargetNodeID: "n3"}, ReasonNotActive},
		{"target paused", state(func(s *State) {
			s.Nodes[2].Spec.Availability = shoalv1.NodeAvailability_NODE_AVAILABILITY_PAUSE
		}), sdk.Move{TaskID: "t1", TargetNodeID: "n3"}, ReasonNotActive},
		{"target cannot run the kind", state(func(s *State) {
			s.Nodes[2].Description.Kinds = []string{"container"}
		}), sdk.Move{TaskID: "t1", TargetNodeID: "n3"}, ReasonKind},
		{"constraint", state(func(s *State) {
			s.Nodes[2].Spec.Labels = map[string]string{"zone": "b"}
			for _, t := range s.Tasks {
				t.Spec.Placement = &shoalv1.Placement{Constraints: []string{"node.labels.zone==a"}}
			}
		}), sdk.Move{TaskID: "t1", TargetNodeID: "n3"}, ReasonConstraint},
		{"cpu", state(func(s *State) {
			for _, t := range s.Tasks {
				t.Spec.Resources = &shoalv1.ResourceRequirements{Reservations: &shoalv1.Resources{NanoCpus: 1e9}}
			}
			s.Nodes[2].Description.Resources.NanoCpus = 5e8
		}), sdk.Move{TaskID: "t1", TargetNodeID: "n3"}, ReasonCPU},
		{"memory", state(func(s *State) {
			for _, t := range s.Tasks {
				t.Spec.Resources = &shoalv1.ResourceRequirements{Reservations: &shoalv1.Resources{MemoryBytes: 1 << 30}}
			}
			s.Nodes[2].Description.Resources.MemoryBytes = 1 << 20
		}), sdk.Move{TaskID: "t1", TargetNodeID: "n3"}, ReasonMemory},
		{"host-mode port already bound on the target", state(func(s *State) {
			for _, t := range s.Tasks {
				t.Endpoint = &shoalv1.Endpoint{Ports: []*shoalv1.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "host"}}}
			}
		}), sdk.Move{TaskID: "t1", TargetNodeID: "n2"}, ReasonHostPort},
		{"max replicas per node", state(func(s *State) {
			for _, t := range s.Tasks {
				t.Spec.Placement = &shoalv1.Placement{MaxReplicas: 1}
			}
		}), sdk.Move{TaskID: "t1", TargetNodeID: "n2"}, ReasonMaxPerNode},
		{"task not running", state(func(s *State) {
			s.Tasks[0].Status.State = shoalv1.TaskState_TASK_STATE_STARTING
		}), sdk.Move{TaskID: "t1", TargetNodeID: "n3"}, ReasonNotRunning},
		{"task being moved", state(func(s *State) {
			s.Tasks[0].RebalanceTarget = "n2"
		}), sdk.Move{TaskID: "t1", TargetNodeID: "n3"}, ReasonMoving},
		{"any better node finds the empty one", state(), sdk.Move{TaskID: "t1"}, ""},
		{"any better node: none is better", state(), sdk.Move{TaskID: "t4"}, ReasonNoBetterNode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := verdicts(tc.s, tc.move)
			if len(got) != 1 || got[0].Rejected != tc.want {
				t.Fatalf("verdict %+v, want rejected %q", got, tc.want)
			}
			if tc.want == "" && got[0].To != "n3" {
				t.Fatalf("accepted move goes to %q, want n3", got[0].To)
			}
		})
	}
}

func TestValidateAcceptsAtMostMaxMovesAndEachTaskOnce(t *testing.T) {
	s := state(func(s *State) { s.Config.MaxMoves = 1 })
	got := verdicts(s, sdk.Move{TaskID: "t1", TargetNodeID: "n3"}, sdk.Move{TaskID: "t1", TargetNodeID: "n2"}, sdk.Move{TaskID: "t2", TargetNodeID: "n3"})
	want := []string{"", ReasonDuplicate, ReasonOverLimit}
	for i, m := range got {
		if m.Rejected != want[i] {
			t.Errorf("move %d: rejected %q, want %q", i, m.Rejected, want[i])
		}
	}
}

func TestValidateCountsEarlierMovesAgainstLaterTargets(t *testing.T) {
	// n3 has room for one task of 1 CPU: the second move there lacks cpu.
	s := state(func(s *State) {
		for _, t := range s.Tasks {
			t.Spec.Resources = &shoalv1.ResourceRequirements{Reservations: &shoalv1.Resources{NanoCpus: 1e9}}
		}
		s.Nodes[2].Description.Resources.NanoCpus = 15e8
	})
	got := verdicts(s, sdk.Move{TaskID: "t1", TargetNodeID: "n3"}, sdk.Move{TaskID: "t2", TargetNodeID: "n3"})
	if got[0].Rejected != "" || got[1].Rejected != ReasonCPU {
		t.Fatalf("verdicts %+v, want accepted then cpu", got)
	}
}

func TestMoveWindowCountsFromTheMovedTasksCreation(t *testing.T) {
	moved := func(ago time.Duration) func(*State) {
		return func(s *State) {
			s.Tasks[0].RebalanceFrom = "t0"
			s.Tasks[0].Meta.CreatedAt = timestamppb.New(s.Now.Add(-ago))
		}
	}
	if got := verdicts(state(moved(4*time.Minute)), sdk.Move{TaskID: "t1", TargetNodeID: "n3"}); got[0].Rejected != ReasonMovedRecently {
		t.Fatalf("moved 4 min ago (window 5 min): %+v, want %s", got[0], ReasonMovedRecently)
	}
	if got := verdicts(state(moved(5*time.Minute)), sdk.Move{TaskID: "t1", TargetNodeID: "n3"}); got[0].Rejected != "" {
		t.Fatalf("moved 5 min ago (window 5 min): %+v, want accepted", got[0])
	}
}

func TestUnsettledServicesAreNotRebalanced(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*State)
		want bool
	}{
		{"settled", func(*State) {}, false},
		{"rolling update", func(s *State) {
			s.Service.UpdateStatus = &shoalv1.UpdateStatus{State: shoalv1.UpdateState_UPDATE_STATE_UPDATING, SpecVersion: 1}
		}, true},
		{"rollback", func(s *State) {
			s.Service.UpdateStatus = &shoalv1.UpdateStatus{State: shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_STARTED, SpecVersion: 1}
		}, true},
		{"update completed", func(s *State) {
			s.Service.UpdateStatus = &shoalv1.UpdateStatus{State: shoalv1.UpdateState_UPDATE_STATE_COMPLETED, SpecVersion: 1}
		}, false},
		{"move not started yet", func(s *State) { s.Tasks[0].RebalanceTarget = "n3" }, true},
		{"move replacement starting", func(s *State) {
			s.Tasks[0].RebalanceTarget = "n3"
			s.Tasks = append(s.Tasks, task("t5", 1, "n3", func(t *shoalv1.Task) {
				t.RebalanceFrom = "t1"
				t.Status.State = shoalv1.TaskState_TASK_STATE_STARTING
			}))
		}, true},
		{"move replacement failed", func(s *State) {
			s.Tasks[0].RebalanceTarget = "n3"
			s.Tasks = append(s.Tasks, task("t5", 1, "n3", func(t *shoalv1.Task) {
				t.RebalanceFrom = "t1"
				t.DesiredState = shoalv1.TaskState_TASK_STATE_SHUTDOWN
				t.Status.State = shoalv1.TaskState_TASK_STATE_FAILED
			}))
		}, false},
		{"a task still pending", func(s *State) { s.Tasks[3].Status.State = shoalv1.TaskState_TASK_STATE_PENDING }, true},
		{"a replica missing", func(s *State) { s.Tasks = s.Tasks[:3] }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := state(tc.edit)
			if got := unsettled(s); (got != "") != tc.want {
				t.Fatalf("unsettled = %q, want unsettled %v", got, tc.want)
			}
		})
	}
}

func TestConfigForResolvesServiceThenClusterWithDefaults(t *testing.T) {
	svc := func(rc *shoalv1.RebalanceConfig, par int64) *shoalv1.Service {
		sp := &shoalv1.ServiceSpec{Rebalance: rc, Mode: &shoalv1.ServiceSpec_Replicated{Replicated: &shoalv1.ReplicatedMode{Replicas: 2}}}
		if par > 0 {
			sp.UpdateConfig = &shoalv1.UpdateConfig{Parallelism: par}
		}
		return &shoalv1.Service{Spec: sp}
	}
	cluster := &shoalv1.ClusterSpec{Rebalance: &shoalv1.RebalanceConfig{Plugin: "cl"}}
	if _, ok := ConfigFor(nil, svc(nil, 0)); ok {
		t.Error("no config anywhere: rebalanced")
	}
	if c, ok := ConfigFor(cluster, svc(nil, 3)); !ok || c.Plugin != "cl" || c.Interval != DefaultInterval || c.Window != DefaultWindow || c.MaxMoves != 3 {
		t.Errorf("cluster's: %+v %v, want cl with defaults and max moves = parallelism 3", c, ok)
	}
	if c, ok := ConfigFor(cluster, svc(&shoalv1.RebalanceConfig{Plugin: "own"}, 0)); !ok || c.Plugin != "own" || c.MaxMoves != DefaultMaxMoves {
		t.Errorf("own: %+v %v", c, ok)
	}
	if _, ok := ConfigFor(cluster, svc(&shoalv1.RebalanceConfig{Disabled: true}, 0)); ok {
		t.Error("disabled for the service: rebalanced with the cluster's")
	}
}

func TestAFailedMoveCountsAgainstTheWindow(t *testing.T) {
	failed := func(ago time.Duration) func(*State) {
		return func(s *State) {
			s.Tasks = append(s.Tasks, task("t9", 1, "n3", func(t *shoalv1.Task) {
				t.RebalanceFrom = "t1"
				t.DesiredState = shoalv1.TaskState_TASK_STATE_SHUTDOWN
				t.Status.State = shoalv1.TaskState_TASK_STATE_FAILED
				t.Meta.CreatedAt = timestamppb.New(s.Now.Add(-ago))
			}))
		}
	}
	if got := verdicts(state(failed(time.Minute)), sdk.Move{TaskID: "t1", TargetNodeID: "n3"}); got[0].Rejected != ReasonMovedRecently {
		t.Fatalf("a failed move 1 min ago: %+v, want %s", got[0], ReasonMovedRecently)
	}
	if got := verdicts(state(failed(time.Hour)), sdk.Move{TaskID: "t1", TargetNodeID: "n3"}); got[0].Rejected != "" {
		t.Fatalf("a failed move an hour ago: %+v, want accepted", got[0])
	}
}
