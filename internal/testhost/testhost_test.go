package testhost

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the program run inside the hosts.
func TestMain(m *testing.M) {
	switch os.Getenv("TESTHOST_HELPER") {
	case "listen":
		listen(os.Getenv("TESTHOST_ADDR"))
		return
	case "dial":
		c, err := net.DialTimeout("tcp", os.Getenv("TESTHOST_ADDR"), 700*time.Millisecond)
		if err != nil {
			fmt.Println("unreachable")
			return
		}
		c.Close()
		fmt.Println("reached")
		return
	}
	os.Exit(m.Run())
}

func listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func helper(h *Host, role, addr string) *exec.Cmd {
	cmd := h.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "TESTHOST_HELPER="+role, "TESTHOST_ADDR="+addr)
	return cmd
}

func reaches(t *testing.T, from, to *Host) bool {
	t.Helper()
	out, err := helper(from, "dial", to.HostPort(7000)).CombinedOutput()
	if err != nil {
		t.Fatalf("dial from %s: %v: %s", from.Name, err, out)
	}
	return strings.TrimSpace(string(out)) == "reached"
}

func TestFaultsCutLinksAndHealRestoresThem(t *testing.T) {
	var nsNames, vethNames []string
	t.Run("hosts", func(t *testing.T) {
		n := New(t, "a", "b", "c")
		a, b, c := n.Host("a"), n.Host("b"), n.Host("c")
		for _, h := range n.Hosts() {
			nsNames = append(nsNames, h.NS)
			vethNames = append(vethNames, h.veth)
			srv := helper(h, "listen", h.HostPort(7000))
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
		}
		deadline := time.Now().Add(10 * time.Second)
		for !reaches(t, a, b) || !reaches(t, b, c) {
			if time.Now().After(deadline) {
				t.Fatal("hosts do not reach each other before any fault")
			}
			time.Sleep(100 * time.Millisecond)
		}
		for _, tc := range []struct {
			d          Direction
			peers      []*Host
			wantAB     bool // a reaches b
			wantCB     bool // c reaches b
			wantBA     bool // b reaches a
			faultyHost *Host
		}{
			{d: Both, faultyHost: b},
			{d: Both, peers: []*Host{a}, wantCB: true, faultyHost: b},
			{d: Inbound, faultyHost: b},  // TCP needs both ways:
			{d: Outbound, faultyHost: b}, // a one-way cut stops connections
			{d: Inbound, peers: []*Host{c}, wantAB: true, wantBA: true, faultyHost: b},
		} {
			tc.faultyHost.Cut(tc.d, tc.peers...)
			ab, cb, ba := reaches(t, a, b), reaches(t, c, b), reaches(t, b, a)
			if ab != tc.wantAB || cb != tc.wantCB || ba != tc.wantBA {
				t.Errorf("b cut %v from %d peers: a->b %v, c->b %v, b->a %v; want %v %v %v", tc.d, len(tc.peers), ab, cb, ba, tc.wantAB, tc.wantCB, tc.wantBA)
			}
			n.HealAll()
			if !reaches(t, a, b) || !reaches(t, c, b) {
				t.Fatalf("after heal of %v: b unreachable", tc.d)
			}
		}
	})
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	for _, ns := range nsNames {
		if strings.Contains(string(out), ns) {
			t.Errorf("namespace %s left behind", ns)
		}
	}
	links, err := exec.Command("ip", "-br", "link").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link: %v", err)
	}
	for _, l := range vethNames {
		if strings.Contains(string(links), l+"@") || strings.Contains(string(links), l+" ") {
			t.Errorf("link %s left behind", l)
		}
	}
}
