package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// TestContainerdBadInput: what cannot run gets a reason a person can act on —
// a REJECTED task whose error names the image or registry, or an API error naming
// the field — and nothing is left half-created in containerd or on the node.
func TestContainerdBadInput(t *testing.T) {
	env := needContainerd(t)
	cc := newCtrCluster(t, env, 0, false)
	m := cc.node("m")

	rejected := []struct {
		name, image string
		want        []string // all in the task's error, case-insensitive
	}{
		{"unknown image", env.registry + "/nope:latest", []string{env.registry + "/nope:latest", "not found"}},
		{"registry down", "127.0.0.1:5999/busybox:latest", []string{"127.0.0.1:5999", "registry unreachable"}},
	}
	for i, tc := range rejected {
		t.Run(tc.name, func(t *testing.T) {
			cc := cc.with(t)
			svc := fmt.Sprintf("bad%d", i)
			cc.mustCLI("service", "create", "--detach", "--name", svc, "--restart-condition", "none", tc.image, "--", "true")
			var task *shoalv1.Task
			d := eventually(t, 2*waitTimeout, svc+" is rejected", func() error {
				ts, err := cc.tasks(svc)
				if err != nil {
					return err
				}
				if len(ts) != 1 {
					return fmt.Errorf("%d tasks, want 1", len(ts))
				}
				task = ts[0]
				if s := task.GetStatus().GetState(); s != shoalv1.TaskState_TASK_STATE_REJECTED {
					return fmt.Errorf("task is %v", s)
				}
				return nil
			})
			e := task.GetStatus().GetErr()
			t.Logf("%s: REJECTED after %s: %s", tc.image, d.Round(time.Millisecond), e)
			for _, w := range tc.want {
				if !strings.Contains(strings.ToLower(e), strings.ToLower(w)) {
					t.Fatalf("task error %q does not mention %q", e, w)
				}
			}
			ps := cc.mustCLI("service", "ps", svc, "--no-trunc")
			if !strings.Contains(ps, tc.want[0]) {
				t.Fatalf("service ps does not show why:\n%s", ps)
			}
			if err := cc.leftovers(m); err != nil {
				t.Fatal(err)
			}
			cc.mustCLI("service", "rm", svc)
			eventually(t, waitTimeout, "nothing left after rm", func() error { return cc.leftovers(m) })
		})
	}

	refused := []struct {
		name string
		args []string
		want string // in stderr, case-insensitive
	}{
		{"malformed reference", []string{"UPPER/Case::x", "--", "true"}, "spec.task.container.image"},
		{"relative bind mount", []string{"--mount", "type=bind,source=relative,target=/x", env.busybox(), "--", "true"}, "mounts[0].source"},
		{"memory limit below 4 MiB", []string{"--limit-memory", "1MiB", env.busybox(), "--", "true"}, "memory_bytes"},
	}
	for i, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			cc := cc.with(t)
			svc := fmt.Sprintf("refused%d", i)
			r := cc.cli(append([]string{"service", "create", "--detach", "--name", svc}, tc.args...)...)
			t.Logf("%s", r)
			if r.Code == 0 {
				t.Fatalf("accepted:\n%s", r)
			}
			se := strings.ToLower(r.Stderr)
			if !strings.Contains(se, strings.ToLower(tc.want)) || !strings.Contains(se, "invalid_argument") {
				t.Fatalf("stderr does not name %q as an invalid argument:\n%s", tc.want, r)
			}
			if strings.TrimSpace(r.Stdout) != "" {
				t.Fatalf("printed on stdout although it failed:\n%s", r)
			}
			if ls := cc.mustCLI("service", "ls", "-q"); strings.TrimSpace(ls) != "" {
				// The rejected services above were removed: nothing may be listed.
				t.Fatalf("services exist after a refused create: %s", ls)
			}
			if err := cc.leftovers(m); err != nil {
				t.Fatal(err)
			}
		})
	}
}
