package lb_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/shoal-project/shoal/network/internal/testnetns"
	"github.com/shoal-project/shoal/network/lb"
)

var (
	clientAddr = netip.MustParsePrefix("10.213.90.1/24")
	backendA   = netip.MustParseAddr("10.213.90.2")
	backendB   = netip.MustParseAddr("10.213.90.3")
	vip        = netip.MustParseAddr("10.213.90.100")
)

const (
	vipPort     = 80
	backendPort = 8080
)

// topology is a client namespace joined by a veth to a backend namespace that holds
// two addresses, each with a TCP server that answers its own name and hangs up.
type topology struct {
	client, backend *testnetns.NS
}

func newTopology(t *testing.T) topology {
	t.Helper()
	c := testnetns.New(t, "lb-client")
	b := testnetns.New(t, "lb-backend")
	testnetns.Veth(t, c, "eth0", clientAddr, b, "eth0", netip.PrefixFrom(backendA, 24))
	b.AddAddr(t, "eth0", netip.PrefixFrom(backendB, 24))
	for _, addr := range []netip.Addr{backendA, backendB} {
		serveName(t, b, netip.AddrPortFrom(addr, backendPort))
	}
	return topology{client: c, backend: b}
}

func serveName(t *testing.T, ns *testnetns.NS, at netip.AddrPort) {
	t.Helper()
	var ln net.Listener
	err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", at.String())
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s: %v", at, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(conn, at.Addr().String())
			conn.Close()
		}
	}()
}

// connect opens n connections to the VIP from the client namespace and counts which
// backend answered each.
func (tp topology) connect(t *testing.T, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	err := tp.client.Do(func() error {
		for i := range n {
			name, err := askName(netip.AddrPortFrom(vip, vipPort))
			if err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			got[name]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func askName(at netip.AddrPort) (string, error) {
	conn, err := net.DialTimeout("tcp", at.String(), 10*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(conn)
	return string(b), err
}

func service(backends ...netip.Addr) []lb.Service {
	return []lb.Service{{
		Name:     "web",
		VIP:      vip,
		Ports:    []lb.Port{{Protocol: lb.TCP, Port: vipPort, TargetPort: backendPort}},
		Backends: backends,
	}}
}

func TestVIPBalancesConnectionsAndFollowsBackends(t *testing.T) {
	tp := newTopology(t)
	bal, err := lb.Open(tp.client.Path, nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("two backends share the connections", func(t *testing.T) {
		sync(t, bal, service(backendA, backendB))
		const n = 120
		got := tp.connect(t, n)
		for _, b := range []netip.Addr{backendA, backendB} {
			if got[b.String()] < n/4 {
				t.Errorf("backend %s answered %d of %d connections, want at least %d: %v", b, got[b.String()], n, n/4, got)
			}
		}
	})
	t.Run("a removed backend gets no more connections", func(t *testing.T) {
		sync(t, bal, service(backendB))
		const n = 40
		if got := tp.connect(t, n); got[backendB.String()] != n {
			t.Errorf("answers = %v, want all %d from %s", got, n, backendB)
		}
	})
	t.Run("no backend refuses at once", func(t *testing.T) {
		sync(t, bal, service())
		start := time.Now()
		err := tp.client.Do(func() error {
			_, err := askName(netip.AddrPortFrom(vip, vipPort))
			return err
		})
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("connect with no backend: err = %v after %v, want connection refused", err, time.Since(start))
		}
	})
	t.Run("close removes the table", func(t *testing.T) {
		if err := bal.Close(); err != nil {
			t.Fatal(err)
		}
		if names := tableNames(t, tp.client); contains(names, lb.TableName) {
			t.Errorf("tables after Close = %v, want no %s", names, lb.TableName)
		}
		if err := bal.Sync(service(backendA)); !errors.Is(err, lb.ErrClosed) {
			t.Errorf("Sync after Close: err = %v, want ErrClosed", err)
		}
	})
}

func sync(t *testing.T, bal *lb.Balancer, s []lb.Service) {
	t.Helper()
	if err := bal.Sync(s); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func tableNames(t *testing.T, ns *testnetns.NS) []string {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns.Handle)))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(tables))
	for i, tb := range tables {
		names[i] = tb.Name
	}
	return names
}

func contains(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}
