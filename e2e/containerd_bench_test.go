package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// TestContainerdStart20 measures `service create --replicas 20` onto one
// containerd worker until all 20 tasks are RUNNING: the wall time seen by the
// client, and create-to-running per container from the task's own timestamps
// (meta.createdAt to the RUNNING status timestamp). The first round pulls the
// image; the next ones find it local. It asserts only that everything starts
// within generous bounds and logs the numbers (target: under 3 s warm).
func TestContainerdStart20(t *testing.T) {
	env := needContainerd(t)
	cc := newCtrCluster(t, env, 1, false)
	w1 := cc.node("w1")
	cl := cc.m.apiClient(t, false)
	const replicas = 20

	for round, label := range []string{"cold (pulls the image)", "warm", "warm"} {
		svc := fmt.Sprintf("start20r%d", round)
		start := time.Now()
		cc.mustCLI(append([]string{"service", "create", "--detach", "--name", svc, "--replicas", fmt.Sprint(replicas),
			"--constraint", "node.hostname==w1", "--stop-grace-period", "1s", env.busybox(), "--"}, webCmd...)...)
		var ts []*shoalv1.Task
		deadline := start.Add(3 * waitTimeout)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
			res, err := cl.Control.ListTasks(ctx, connect.NewRequest(&shoalv1.ListTasksRequest{Service: svc}))
			cancel()
			if err != nil {
				t.Fatalf("list tasks: %v", err)
			}
			ts = res.Msg.GetTasks()
			running := 0
			for _, task := range ts {
				if wantRunning(task) && isRunning(task) {
					running++
				}
			}
			if running == replicas {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d running after %s", svc, running, replicas, time.Since(start))
			}
			time.Sleep(20 * time.Millisecond)
		}
		wall := time.Since(start)
		var lat []time.Duration
		var last time.Time
		for _, task := range ts {
			if task.GetNodeId() != w1.nodeID {
				t.Fatalf("task %s on %s, want w1 (constraint)", task.GetId(), task.GetNodeId())
			}
			at := task.GetStatus().GetTimestamp().AsTime()
			lat = append(lat, at.Sub(task.GetMeta().GetCreatedAt().AsTime()))
			if at.After(last) {
				last = at
			}
		}
		slices.Sort(lat)
		first := ts[0].GetMeta().GetCreatedAt().AsTime()
		for _, task := range ts {
			if c := task.GetMeta().GetCreatedAt().AsTime(); c.Before(first) {
				first = c
			}
		}
		t.Logf("%s, %s: %d RUNNING on one worker; client wall %s; first task created -> last RUNNING %s; create-to-running median %s p99 %s min %s max %s",
			svc, label, replicas, wall.Round(time.Millisecond), last.Sub(first).Round(time.Millisecond),
			pct(lat, 50).Round(time.Millisecond), pct(lat, 99).Round(time.Millisecond), lat[0].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
		cc.checkHTTP(ts[:1])
		cc.mustCLI("service", "rm", svc)
		d := eventually(t, 2*waitTimeout, svc+" removed", func() error { return cc.leftovers(w1) })
		t.Logf("%s: %d containers removed %s after service rm", svc, replicas, d.Round(time.Millisecond))
	}
}

// pct is the p-th percentile of sorted durations (nearest rank).
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted) + 99) / 100
	return sorted[max(0, min(len(sorted)-1, i-1))]
}
