package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/internal/testhost"
)

// TestPublishedPortsRoutingMesh: a manager and three workers on test hosts
// (containerd), and a fifth host with no node as the client. A 2-replica
// service published on 8080 in ingress mode answers on every node, the
// drained manager and the worker without a task of it included; after a
// task is killed, once the mesh converges, every request succeeds again
// (its replacement, on the same node, reuses its address). A
// host-mode port answers only on its task's node, and a second service
// asking for a published port is refused, naming the first.
func TestPublishedPortsRoutingMesh(t *testing.T) {
	env := needContainerd(t)
	hosts := testhost.New(t, "m", "w1", "w2", "w3", "client")
	cc := newCtrClusterOn(t, env, hosts, 3, true)
	for _, n := range cc.all[1:] {
		cc.mustCtr("-n", n.ns(), "images", "pull", "--plain-http", env.busybox())
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, svc := range []string{"web", "agent"} {
				t.Logf("service ps %s:\n%s", svc, cc.cli("service", "ps", "--no-trunc", svc))
			}
		}
	})
	client := "/var/run/netns/" + hosts.Host("client").NS
	nodes := hosts.Hosts()[:4]
	get := func(h *testhost.Host, port int) (string, error) {
		return httpFromNetns(client, "http://"+h.HostPort(port)+"/")
	}
	// everyHostAnswers waits until 10 requests in a row succeed on each host.
	everyHostAnswers := func(t *testing.T, what string) map[string]bool {
		t.Helper()
		seen := map[string]bool{}
		for _, h := range nodes {
			eventually(t, 2*waitTimeout, what+" on "+h.Name, func() error {
				for i := range 10 {
					body, err := get(h, 8080)
					if err != nil {
						return fmt.Errorf("request %d: %w", i, err)
					}
					seen[body] = true
				}
				return nil
			})
		}
		return seen
	}

	// One task on each of w1 and w2: a killed task's replacement starts on
	// the same node, with the address it freed (the lowest free one).
	cc.mustCLI(append([]string{"service", "create", "--detach", "--name", "web", "--replicas", "2", "-p", "8080:8080",
		"--max-replicas", "1", "--constraint", "node.hostname!=w3", env.busybox(), "--"}, webCmd...)...)
	web := cc.waitRunning("web", 2)

	t.Run("every host answers, the ones without a task too", func(t *testing.T) {
		seen := everyHostAnswers(t, "the routing mesh answers")
		if len(seen) != 2 {
			t.Errorf("requests reached %v, want both replicas", seen)
		}
		if out := cc.mustCLI("service", "ls"); !strings.Contains(out, "*:8080->8080/tcp") {
			t.Errorf("service ls does not show the served port:\n%s", out)
		}
	})

	t.Run("a conflicting publish is refused naming the service", func(t *testing.T) {
		r := cc.with(t).cli("service", "create", "--detach", "--name", "other", "-p", "published=8080,target=80,mode=host", env.busybox(), "--", "sleep", "60")
		if r.Code == 0 || !strings.Contains(r.Stderr, `"web"`) || !strings.Contains(r.Stderr, "8080") {
			t.Fatalf("want a refusal naming service \"web\" and port 8080, got %s", r)
		}
	})

	t.Run("after a task dies the mesh converges and every request succeeds", func(t *testing.T) {
		victim := web[0]
		cc.with(t).mustCtr("-n", cc.byID(victim.GetNodeId()).ns(), "tasks", "kill", "-s", "KILL", victim.GetId())
		eventually(t, 2*waitTimeout, "the killed task is replaced", func() error {
			for _, task := range cc.with(t).waitRunning("web", 2) {
				if task.GetId() == victim.GetId() {
					return fmt.Errorf("the killed task %s still counts as running", task.GetId())
				}
			}
			return nil
		})
		for _, task := range cc.with(t).waitRunning("web", 2) {
			if task.GetNodeId() == victim.GetNodeId() {
				t.Logf("the replacement has address %s (the killed task had %s)", overlayAddr(t, task), overlayAddr(t, victim))
			}
		}
		everyHostAnswers(t, "the routing mesh answers after the kill")
	})

	t.Run("host mode answers only on its task's node", func(t *testing.T) {
		cc := cc.with(t)
		cc.mustCLI(append([]string{"service", "create", "--detach", "--name", "agent", "--constraint", "node.hostname==w3",
			"--publish", "published=8081,target=8080,mode=host", env.busybox(), "--"}, webCmd...)...)
		task := cc.waitRunning("agent", 1)[0]
		if node := cc.byID(task.GetNodeId()); node.name != "w3" {
			t.Fatalf("the host-mode task runs on %s, want w3", node.name)
		}
		eventually(t, waitTimeout, "w3 answers on 8081", func() error {
			_, err := get(hosts.Host("w3"), 8081)
			return err
		})
		for _, h := range nodes[:3] {
			if body, err := get(h, 8081); err == nil {
				t.Errorf("%s answers on the host-mode port 8081 (%q), want only w3", h.Name, body)
			}
		}
		if out := cc.mustCLI("service", "ls"); !strings.Contains(out, "host:8081->8080/tcp") {
			t.Errorf("service ls does not show the host-mode port:\n%s", out)
		}
	})
}
