package taskspec

import (
	"testing"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func TestCurrentSkipsTasksARollbackNeedNotReplace(t *testing.T) {
	spec := func(cmd string) *shoalv1.TaskSpec {
		return &shoalv1.TaskSpec{Runtime: &shoalv1.TaskSpec_Process{Process: &shoalv1.ProcessSpec{Command: []string{cmd}}}}
	}
	svc := func(state shoalv1.UpdateState, nets ...string) *shoalv1.Service {
		return &shoalv1.Service{SpecVersion: 3, Spec: &shoalv1.ServiceSpec{Task: spec("good"), Networks: nets},
			UpdateStatus: &shoalv1.UpdateStatus{State: state, SpecVersion: 3}}
	}
	rollingBack, updating := shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_STARTED, shoalv1.UpdateState_UPDATE_STATE_UPDATING
	task := func(v uint64, cmd string, nets ...string) *shoalv1.Task {
		t := &shoalv1.Task{SpecVersion: v, Spec: spec(cmd)}
		for _, n := range nets {
			t.Networks = append(t.Networks, &shoalv1.Attachment{NetworkId: n})
		}
		return t
	}
	for _, tc := range []struct {
		name string
		task *shoalv1.Task
		svc  *shoalv1.Service
		want bool
	}{
		{"same version", task(3, "bad"), svc(updating), true},
		{"older version, update", task(1, "good"), svc(updating), false},
		{"older version, rollback, same template", task(1, "good"), svc(rollingBack), true},
		{"older version, rollback, other template", task(2, "bad"), svc(rollingBack), false},
		{"rollback, same template and networks", task(1, "good", "b", "a"), svc(rollingBack, "a", "b"), true},
		{"rollback, other networks", task(1, "good", "a"), svc(rollingBack, "a", "b"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Current(tc.task, tc.svc); got != tc.want {
				t.Fatalf("Current = %v, want %v", got, tc.want)
			}
		})
	}
}
