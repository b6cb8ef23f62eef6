package e2e

import (
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/nsthread"
	"github.com/shoal-project/shoal/internal/testhost"
	"github.com/shoal-project/shoal/internal/wirecapture"
)

// encKeyRotation is how often the nodes of the encrypted-overlay test make
// new WireGuard keys: short, so the test sees rotations while it runs.
const encKeyRotation = 6 * time.Second

// TestEncryptedOverlayAcrossHosts: a manager and two containerd workers on
// test hosts, rotating their WireGuard keys every few seconds. A client on
// w1 sends a random marker to a server on w2, once over an encrypted
// network and once over a plain one, while a packet capture runs on the
// bridge between the hosts: the marker crosses it zero times encrypted and
// at least once in the clear (the positive control). A TCP connection
// between the two tasks over the encrypted network stays up across both
// nodes' key rotations.
func TestEncryptedOverlayAcrossHosts(t *testing.T) {
	env := needContainerd(t)
	env.extra = []string{"--wireguard-key-rotation", encKeyRotation.String()}
	hosts := testhost.New(t, "m", "w1", "w2")
	cc := newCtrClusterOn(t, env, hosts, 2, true)
	cc.mustCLI("cluster", "update", "--heartbeat-period", "1s") // rotated keys travel with heartbeats
	for _, n := range cc.all[1:] {
		cc.mustCtr("-n", n.ns(), "images", "pull", "--plain-http", env.busybox())
	}
	cc.mustCLI("network", "create", "--encrypted", "sec")
	cc.mustCLI("network", "create", "plain")
	for _, net := range []string{"sec", "plain"} {
		cc.mustCLI(append([]string{"service", "create", "--detach", "--name", "server-" + net, "--network", net,
			"--constraint", "node.hostname==w2", env.busybox(), "--"}, webCmd...)...)
	}
	cc.mustCLI("service", "create", "--detach", "--name", "client", "--network", "sec", "--network", "plain",
		"--constraint", "node.hostname==w1", env.busybox(), "--", "sleep", "3600")
	client := cc.waitRunning("client", 1)[0]
	clientNetns := fmt.Sprintf("/proc/%d/ns/net", cc.ctrTasks(cc.node("w1"))[client.GetId()].pid)

	t.Run("a capture on the underlay sees the marker only on the plain network", func(t *testing.T) {
		for _, tc := range []struct {
			network   string
			encrypted bool
		}{{"sec", true}, {"plain", false}} {
			addr := overlayAddr(t, cc.waitRunning("server-"+tc.network, 1)[0])
			eventually(t, waitTimeout, "the client reaches server-"+tc.network, func() error {
				_, err := httpFromNetns(clientNetns, "http://"+addr+":8080/")
				return err
			})
			marker := "shoal-marker-" + rand.Text()
			frames, hits := captureOn(t, hosts.Bridge(), marker, func() error {
				return getPath(clientNetns, addr+":8080", "/"+marker)
			})
			t.Logf("network %s: %d frames on the bridge, marker seen %d times", tc.network, frames, hits)
			switch {
			case frames == 0:
				t.Fatalf("network %s: the capture saw no frame", tc.network)
			case tc.encrypted && hits != 0:
				t.Fatalf("encrypted network %s: marker seen %d times on the underlay, want 0", tc.network, hits)
			case !tc.encrypted && hits == 0:
				t.Fatalf("plain network %s: marker not seen on the underlay: the capture shows nothing", tc.network)
			}
		}
	})

	t.Run("a TCP connection survives both nodes' key rotations", func(t *testing.T) {
		server := cc.waitRunning("server-sec", 1)[0]
		serverNetns := fmt.Sprintf("/proc/%d/ns/net", cc.ctrTasks(cc.node("w2"))[server.GetId()].pid)
		conn := echoConn(t, clientNetns, serverNetns, overlayAddr(t, server)+":9000")
		w1, w2 := cc.node("w1"), cc.node("w2")
		r1, r2 := rotations(t, w1), rotations(t, w2)
		deadline := time.Now().Add(10 * encKeyRotation)
		var slowest time.Duration
		for i := 0; rotations(t, w1) < r1+2 || rotations(t, w2) < r2+2; i++ {
			if time.Now().After(deadline) {
				t.Fatalf("fewer than two key rotations on each worker in %v", 10*encKeyRotation)
			}
			start := time.Now()
			if err := echoLine(conn, fmt.Sprintf("line %d", i)); err != nil {
				t.Fatalf("exchange %d on the connection opened before the rotations: %v", i, err)
			}
			slowest = max(slowest, time.Since(start))
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("two rotations on each worker: the slowest exchange took %v", slowest)
	})
}

// captureOn counts the frames on link (in the test's namespace) and the
// marker in them while send runs.
func captureOn(t *testing.T, link, marker string, send func() error) (frames, hits int) {
	t.Helper()
	l, err := net.InterfaceByName(link)
	if err != nil {
		t.Fatal(err)
	}
	c, err := wirecapture.Open(l.Index, []byte(marker))
	if err != nil {
		t.Fatal(err)
	}
	serr := send()
	time.Sleep(300 * time.Millisecond) // the last frames reach the socket
	frames, hits, err = c.Stop()
	if serr != nil || err != nil {
		t.Fatalf("send: %v; capture: %v", serr, err)
	}
	return frames, hits
}

// getPath sends GET path over a connection opened in the namespace at
// netnsPath and reads the answer (a 404 is as good: the request crossed).
func getPath(netnsPath, hostPort, path string) error {
	var conn net.Conn
	err := nsthread.Do(netnsPath, func() (err error) {
		conn, err = net.DialTimeout("tcp", hostPort, 5*time.Second)
		return err
	})
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.0\r\n\r\n", path); err != nil {
		return err
	}
	b, err := io.ReadAll(conn)
	if err == nil && !strings.HasPrefix(string(b), "HTTP/") {
		err = fmt.Errorf("no HTTP answer: %q", b)
	}
	return err
}

// echoConn listens at addr inside serverNetns (a task's), echoing, and
// returns a connection to it from inside clientNetns.
func echoConn(t *testing.T, clientNetns, serverNetns, addr string) net.Conn {
	t.Helper()
	var ln net.Listener
	if err := nsthread.Do(serverNetns, func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	var conn net.Conn
	err := nsthread.Do(clientNetns, func() (err error) { conn, err = net.DialTimeout("tcp", addr, 10*time.Second); return err })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// echoLine sends a line and expects it back within 30 s (TCP retransmits
// through a handshake in progress).
func echoLine(c net.Conn, line string) error {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return err
	}
	got := make([]byte, len(line)+1)
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got) != line+"\n" {
		return fmt.Errorf("echo: got %q, want %q", got, line)
	}
	return nil
}

// rotations counts the key rotations in a node's log.
func rotations(t *testing.T, n *ctrNode) int {
	t.Helper()
	b, err := os.ReadFile(n.p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "wireguard: key rotated")
}
