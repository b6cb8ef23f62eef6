//go:build linux

package overlay

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/shoal-project/shoal/internal/wirecapture"
	"github.com/shoal-project/shoal/network/internal/nsexec"
	"github.com/shoal-project/shoal/network/wireguard"
)

// openTunnels starts a WireGuard tunnel on each host and makes every other
// host its peer; it returns them in the hosts' order.
func openTunnels(t testing.TB, hosts ...*host) []*wireguard.Tunnel {
	t.Helper()
	var tunnels []*wireguard.Tunnel
	for _, h := range hosts {
		key, err := wireguard.GeneratePrivateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tun, err := wireguard.Open(wireguard.Config{UnderlayAddr: h.underlay, HostNetnsPath: h.config().HostNetnsPath}, key)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tun.Close() })
		tunnels = append(tunnels, tun)
	}
	setTunnelPeers(t, tunnels)
	return tunnels
}

// newEncryptedTestbed is a testbed with tunnels and an encrypted network,
// a task on each host.
func newEncryptedTestbed(t testing.TB) (h1, h2 *host, tunnels []*wireguard.Tunnel) {
	t.Helper()
	h1, h2 = newTestbed(t)
	tunnels = openTunnels(t, h1, h2)
	cfg := testNetwork()
	cfg.Encrypted = true
	setUpNetwork(t, cfg, h1, h2)
	return h1, h2, tunnels
}

func setTunnelPeers(t testing.TB, tunnels []*wireguard.Tunnel) {
	t.Helper()
	var peers []wireguard.Peer
	for _, tun := range tunnels {
		peers = append(peers, wireguard.Peer{PublicKey: tun.PublicKey(), Endpoint: tun.Endpoint()})
	}
	for _, tun := range tunnels {
		if err := tun.SetPeers(peers); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEncryptedNetworkShowsNoPlaintextOnTheUnderlay(t *testing.T) {
	h1, h2 := newTestbed(t)
	openTunnels(t, h1, h2)
	for _, tc := range []struct {
		name      string
		encrypted bool
	}{
		{"encrypted: the marker never crosses the underlay", true},
		{"unencrypted (positive control): the capture sees the marker", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testNetwork()
			cfg.Encrypted = tc.encrypted
			setUpNetwork(t, cfg, h1, h2)
			t.Cleanup(func() { removeNetwork(t, h1, h2) })
			echo := serveEcho(t, h2.task, h2.taskAddr.Addr())
			eventually(t, "tcp h1->h2 and ping h2->h1", reachable(t, h1, h2, echo))

			marker := []byte("shoal-marker-" + rand.Text())
			frames, hits := captureWhile(t, h1.name, "under0", marker, func() error {
				return sendMarker(openNetns(t, h1.task), echo, marker)
			})
			t.Logf("%d frames captured on the underlay, marker seen %d times", frames, hits)
			if frames == 0 {
				t.Fatal("the capture saw no frame on the underlay")
			}
			if tc.encrypted && hits != 0 {
				t.Fatalf("marker seen %d times on the underlay of an encrypted network, want 0", hits)
			}
			if !tc.encrypted && hits == 0 {
				t.Fatal("marker not seen on the underlay of an unencrypted network: the capture shows nothing")
			}
		})
	}
}

func TestEncryptedNetworkMTULeavesRoomForWireGuard(t *testing.T) {
	h1, _, tunnels := newEncryptedTestbed(t)
	link, err := netlinkAt(t, openNetns(t, h1.task)).LinkByName("eth1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := link.Attrs().MTU, tunnels[0].MTU()-vxlanOverhead; got != want {
		t.Errorf("task MTU on an encrypted network = %d, want the tunnel's %d minus VXLAN's %d = %d", got, tunnels[0].MTU(), vxlanOverhead, want)
	}
}

func TestEncryptedNetworkWithoutTunnelIsRefused(t *testing.T) {
	h1, _ := newTestbed(t) // no openTunnels: the link is missing
	cfg := testNetwork()
	cfg.Encrypted = true
	if err := h1.m.EnsureNetwork(cfg); !errors.Is(err, ErrNoEncryption) {
		t.Fatalf("EnsureNetwork(encrypted) without a tunnel: err = %v, want ErrNoEncryption", err)
	}
}

func removeNetwork(t testing.TB, hosts ...*host) {
	for _, h := range hosts {
		if err := h.m.RemoveNetwork(testNetID); err != nil {
			t.Error(err)
		}
	}
}

// captureWhile captures on a link of a named netns while send runs and
// returns the frames seen and the marker's count.
func captureWhile(t testing.TB, nsName, link string, marker []byte, send func() error) (frames, hits int) {
	t.Helper()
	l, err := netlinkAt(t, openNetns(t, nsName)).LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	var c *wirecapture.Capture
	err = nsexec.Do(filepath.Join(namedNetnsDir, nsName), func() (err error) {
		c, err = wirecapture.Open(l.Attrs().Index, marker)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	serr := send()
	time.Sleep(300 * time.Millisecond) // the last frames reach the socket
	frames, hits, err = c.Stop()
	if err := errors.Join(serr, err); err != nil {
		t.Fatal(err)
	}
	return frames, hits
}

// sendMarker sends the marker over TCP from inside a netns to the echo
// server and reads it back, so it surely crossed the wire both ways.
func sendMarker(ns netns.NsHandle, to netip.AddrPort, marker []byte) error {
	var c net.Conn
	err := nsexec.DoHandle(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", to.String(), 5*time.Second)
		return err
	})
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(marker); err != nil {
		return err
	}
	got := make([]byte, len(marker))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("echo of the marker: %w", err)
	}
	return nil
}

// TestKeyRotationKeepsEstablishedTCPConnection rotates one node's key while
// a TCP connection between tasks is open; the peer learns the new public
// key a moment later (as it would from its next assignments), and the same
// connection carries the next exchange.
func TestKeyRotationKeepsEstablishedTCPConnection(t *testing.T) {
	h1, h2, tunnels := newEncryptedTestbed(t)
	echo := serveEcho(t, h2.task, h2.taskAddr.Addr())
	eventually(t, "tcp h1->h2 and ping h2->h1", reachable(t, h1, h2, echo))

	var c net.Conn
	err := nsexec.DoHandle(openNetns(t, h1.task), func() (err error) {
		c, err = net.DialTimeout("tcp", echo.String(), 5*time.Second)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := exchange(c, "before the rotation"); err != nil {
		t.Fatal(err)
	}
	old := tunnels[0].PublicKey()
	key, err := wireguard.GeneratePrivateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := tunnels[0].SetPrivateKey(key); err != nil {
		t.Fatal(err)
	}
	if tunnels[0].PublicKey() == old {
		t.Fatal("the public key did not change")
	}
	// Until the peer learns the new key nothing passes: a new connection
	// fails (the tunnel authenticates each node by its key).
	if err := tcpEcho(openNetns(t, h1.task), echo, time.Second); err == nil {
		t.Fatal("a new connection passed while the peer still had the old public key")
	}
	setTunnelPeers(t, tunnels)
	start := time.Now()
	if err := exchange(c, "after the rotation"); err != nil {
		t.Fatalf("the connection open across the rotation failed: %v", err)
	}
	t.Logf("first exchange after the peer learned the new key took %v", time.Since(start))
}

// exchange sends a line on c and expects it echoed within 20 s (TCP
// retransmits what a handshake in progress dropped).
func exchange(c net.Conn, line string) error {
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	msg := []byte(line + "\n")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("echo of %q: %w", line, err)
	}
	return nil
}
