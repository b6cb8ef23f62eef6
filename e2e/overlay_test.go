package e2e

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/nsthread"
	"github.com/shoal-project/shoal/internal/testhost"
)

// TestOverlayNetworkAcrossHosts: a manager and three workers, each in a test
// host (its own network namespace) on the containerd backend. On an overlay
// network a client on w1 reaches a 2-replica server on the other workers by
// name (VIP, with no published port), by tasks.NAME and by task address; the
// VIP spreads over both replicas; the client's node process restarted, the
// re-adopted client still resolves and reaches the server; a killed server
// task's replacement is reached; a stopped worker's tasks leave the client's DNS.
func TestOverlayNetworkAcrossHosts(t *testing.T) {
	env := needContainerd(t)
	hosts := testhost.New(t, "m", "w1", "w2", "w3")
	cc := newCtrClusterOn(t, env, hosts, 3, true)
	// Nodes pull from their own namespace, where the test registry on this
	// machine's loopback is not: give each node's containerd namespace the image.
	for _, n := range cc.all[1:] {
		cc.mustCtr("-n", n.ns(), "images", "pull", "--plain-http", env.busybox())
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, svc := range []string{"server", "client"} {
				t.Logf("service ps %s:\n%s", svc, cc.cli("service", "ps", "--no-trunc", svc))
			}
		}
	})
	cc.mustCLI("network", "create", "front")
	cc.mustCLI(append([]string{"service", "create", "--detach", "--name", "server", "--replicas", "2", "--network", "front",
		"--constraint", "node.hostname!=w1", env.busybox(), "--"}, webCmd...)...)
	cc.mustCLI("service", "create", "--detach", "--name", "client", "--network", "front",
		"--constraint", "node.hostname==w1", env.busybox(), "--", "sleep", "3600")
	servers := cc.waitRunning("server", 2)
	client := cc.waitRunning("client", 1)[0]
	w1 := cc.node("w1")

	var execs atomic.Int64
	inClient := func(args ...string) (string, error) {
		id := fmt.Sprintf("e%d", execs.Add(1))
		return cc.ctr(append([]string{"-n", w1.ns(), "tasks", "exec", "--exec-id", id, client.GetId()}, args...)...)
	}
	// The image's busybox is static glibc: its wget crashes (exit 139), so
	// HTTP goes from a socket this test opens in the client's namespace;
	// names are checked with nslookup (busybox's own resolver, asking the
	// embedded server).
	clientNetns := fmt.Sprintf("/proc/%d/ns/net", cc.ctrTasks(w1)[client.GetId()].pid)
	get := func(addr string) (string, error) {
		return httpFromNetns(clientNetns, "http://"+addr+":8080/")
	}
	resolves := func(name string, want ...string) {
		t.Helper()
		eventually(t, waitTimeout, name+" resolves to "+strings.Join(want, ", "), func() error {
			out, err := inClient("nslookup", name, "127.0.0.11")
			if err != nil {
				return err
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					return fmt.Errorf("no %s in:\n%s", w, out)
				}
			}
			return nil
		})
	}
	reach := func(what, addr string) {
		t.Helper()
		eventually(t, waitTimeout, "the client reaches the server "+what, func() error {
			_, err := get(addr)
			return err
		})
	}
	vip := serviceVIP(t, cc)
	resolves("server", vip)
	var serverAddrs []string
	for _, s := range servers {
		serverAddrs = append(serverAddrs, overlayAddr(t, s))
	}
	resolves("tasks.server", serverAddrs...)
	reach("by its VIP", vip)
	for _, a := range serverAddrs {
		reach("by task address", a)
	}

	seen := map[string]int{}
	for range 100 {
		body, err := get(vip)
		if err != nil {
			t.Fatalf("request to the VIP: %v", err)
		}
		seen[body]++
	}
	if len(seen) != 2 {
		t.Fatalf("100 requests to the VIP reached %v, want both replicas", seen)
	}

	// Kill the client's node process (its tasks keep running) and start it
	// again: the re-adopted client gets its DNS server back and still
	// reaches the server by name.
	killOnly(w1.p)
	eventually(t, waitTimeout, "the client's DNS server is gone with its node process", func() error {
		if out, err := inClient("nslookup", "server", "127.0.0.11"); err == nil {
			return fmt.Errorf("still answers:\n%s", out)
		}
		return nil
	})
	cc.restartNode(w1)
	if pid := cc.ctrTasks(w1)[client.GetId()].pid; fmt.Sprintf("/proc/%d/ns/net", pid) != clientNetns {
		t.Fatalf("the client task was restarted (pid %d), want it re-adopted", pid)
	}
	resolves("server", vip)
	resolves("tasks.server", serverAddrs...)
	reach("by its VIP after its node restarted", vip)

	// Kill one server task: the client reaches its replacement.
	victim := servers[0]
	cc.mustCtr("-n", cc.byID(victim.GetNodeId()).ns(), "tasks", "kill", "-s", "KILL", victim.GetId())
	eventually(t, 2*waitTimeout, "the client reaches the replacement server task", func() error {
		for _, s := range cc.waitRunning("server", 2) {
			if s.GetId() == victim.GetId() {
				return fmt.Errorf("the killed task %s still counts as running", s.GetId())
			}
			if _, err := get(overlayAddr(t, s)); err != nil {
				return err
			}
		}
		return nil
	})

	// Stop a worker holding a server task: its attachments leave the client's view.
	gone := cc.byID(cc.waitRunning("server", 2)[0].GetNodeId())
	goneAddrs := map[string]bool{}
	for _, s := range cc.waitRunning("server", 2) {
		if s.GetNodeId() == gone.nodeID {
			goneAddrs[overlayAddr(t, s)] = true
		}
	}
	gone.p.kill()
	eventually(t, 2*waitTimeout, "the stopped worker's tasks leave the client's DNS", func() error {
		out, err := inClient("nslookup", "tasks.server", "127.0.0.11")
		if err != nil {
			return err
		}
		for a := range goneAddrs {
			if strings.Contains(out, a) {
				return fmt.Errorf("tasks.server still lists %s of the stopped %s:\n%s", a, gone.name, out)
			}
		}
		return nil
	})
}

// serviceVIP is the server service's VIP on its one network.
func serviceVIP(t *testing.T, cc *ctrCluster) string {
	t.Helper()
	vips := inspectService(t, cc.m, "server").GetEndpoint().GetVirtualIps()
	if len(vips) != 1 || len(vips[0].GetAddresses()) == 0 {
		t.Fatalf("server VIPs %v, want one", vips)
	}
	return netip.MustParsePrefix(vips[0].GetAddresses()[0]).Addr().String()
}

// overlayAddr is a task's address on its one network.
func overlayAddr(t *testing.T, task *shoalv1.Task) string {
	t.Helper()
	at := task.GetNetworks()
	if len(at) != 1 || len(at[0].GetAddresses()) == 0 {
		t.Fatalf("task %s has attachments %v, want one address", task.GetId(), at)
	}
	return netip.MustParsePrefix(at[0].GetAddresses()[0]).Addr().String()
}

// httpFromNetns GETs url over a connection opened inside the network
// namespace at path (a task's), and returns the trimmed body.
func httpFromNetns(path, url string) (string, error) {
	var conn net.Conn
	err := nsthread.Do(path, func() (err error) {
		conn, err = net.DialTimeout("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/"), 3*time.Second)
		return err
	})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return "", err
	}
	_, body, ok := strings.Cut(string(b), "\r\n\r\n")
	if !ok {
		return "", fmt.Errorf("no HTTP answer: %q", b)
	}
	return strings.TrimSpace(body), nil
}
