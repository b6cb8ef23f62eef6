package lb_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
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
	otherVIP   = netip.MustParseAddr("10.213.90.101")
)

const (
	vipPort     = 80
	backendPort = 8080
	otherPort   = 9090 // a second backend port (TCP), for all-ports VIPs
)

// topology is a client namespace joined by a veth to a backend namespace that holds
// two addresses, each with a TCP and a UDP server that answer their own address.
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
		at := netip.AddrPortFrom(addr, backendPort)
		serveTCPName(t, b, at)
		serveUDPName(t, b, at)
		serveTCPName(t, b, netip.AddrPortFrom(addr, otherPort))
	}
	return topology{client: c, backend: b}
}

func serveTCPName(t *testing.T, ns *testnetns.NS, at netip.AddrPort) {
	t.Helper()
	var ln net.Listener
	ns.MustDo(t, func() (err error) {
		ln, err = net.Listen("tcp", at.String())
		return err
	})
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

func serveUDPName(t *testing.T, ns *testnetns.NS, at netip.AddrPort) {
	t.Helper()
	var pc net.PacketConn
	ns.MustDo(t, func() (err error) {
		pc, err = net.ListenPacket("udp", at.String())
		return err
	})
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 64)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(at.Addr().String()), from)
		}
	}()
}

// connect opens n connections (UDP: n sockets) to port vipPort of a VIP from the
// client namespace and counts which backend answered each.
func (tp topology) connect(t *testing.T, proto lb.Protocol, to netip.Addr, n int) map[string]int {
	t.Helper()
	return tp.connectPort(t, proto, netip.AddrPortFrom(to, vipPort), n)
}

func (tp topology) connectPort(t *testing.T, proto lb.Protocol, to netip.AddrPort, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	tp.client.MustDo(t, func() error {
		for i := range n {
			name, err := askName(proto, to)
			if err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			got[name]++
		}
		return nil
	})
	return got
}

// askName connects to to and reads the answering backend's address.
func askName(proto lb.Protocol, to netip.AddrPort) (string, error) {
	conn, err := net.DialTimeout(string(proto), to.String(), 10*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if proto == lb.UDP {
		if _, err := conn.Write([]byte("?")); err != nil {
			return "", err
		}
		buf := make([]byte, 64)
		n, err := conn.Read(buf)
		return string(buf[:n]), err
	}
	b, err := io.ReadAll(conn)
	return string(b), err
}

func service(proto lb.Protocol, backends ...netip.Addr) []lb.Service {
	return []lb.Service{{
		Name:     "web",
		VIP:      vip,
		Ports:    []lb.Port{{Protocol: proto, Port: vipPort, TargetPort: backendPort}},
		Backends: backends,
	}}
}

func TestVIPBalancesConnectionsAndFollowsBackends(t *testing.T) {
	tp := newTopology(t)
	bal, err := lb.Open(tp.client.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, proto := range []lb.Protocol{lb.TCP, lb.UDP} {
		t.Run(string(proto), func(t *testing.T) { testBalancing(t, tp, bal, proto) })
	}
	t.Run("close removes the table", func(t *testing.T) {
		if err := bal.Close(); err != nil {
			t.Fatal(err)
		}
		if names := tableNames(t, tp.client); slices.Contains(names, lb.TableName) {
			t.Errorf("tables after Close = %v, want no %s", names, lb.TableName)
		}
		if err := bal.Sync(service(lb.TCP, backendA)); !errors.Is(err, lb.ErrClosed) {
			t.Errorf("Sync after Close: err = %v, want ErrClosed", err)
		}
	})
}

func testBalancing(t *testing.T, tp topology, bal *lb.Balancer, proto lb.Protocol) {
	t.Run("two backends share the connections", func(t *testing.T) {
		other := service(proto, backendA)[0]
		other.Name, other.VIP = "other", otherVIP
		sync(t, bal, append(service(proto, backendA, backendB), other))
		const n = 120
		got := tp.connect(t, proto, vip, n)
		for _, b := range []netip.Addr{backendA, backendB} {
			if got[b.String()] < n/4 {
				t.Errorf("backend %s answered %d of %d connections, want at least %d: %v", b, got[b.String()], n, n/4, got)
			}
		}
		if got := tp.connect(t, proto, otherVIP, 10); got[backendA.String()] != 10 {
			t.Errorf("answers on the other VIP = %v, want all 10 from its one backend %s", got, backendA)
		}
	})
	t.Run("a removed backend gets no more connections", func(t *testing.T) {
		sync(t, bal, service(proto, backendB))
		const n = 40
		if got := tp.connect(t, proto, vip, n); got[backendB.String()] != n {
			t.Errorf("answers = %v, want all %d from %s", got, n, backendB)
		}
	})
	t.Run("no backend refuses at once", func(t *testing.T) {
		sync(t, bal, service(proto))
		tp.expectRefused(t, proto, netip.AddrPortFrom(vip, vipPort))
	})
}

func (tp topology) expectRefused(t *testing.T, proto lb.Protocol, to netip.AddrPort) {
	t.Helper()
	start := time.Now()
	err := tp.client.Do(func() error {
		_, err := askName(proto, to)
		return err
	})
	// TCP sees the reset; a UDP send fails at once (the datagram is dropped
	// locally, EPERM) or its reply read sees the ICMP port unreachable.
	refused := errors.Is(err, syscall.ECONNREFUSED) || proto == lb.UDP && errors.Is(err, syscall.EPERM)
	if !refused {
		t.Fatalf("%s to %s with no backend: err = %v after %v, want a refusal", proto, to, err, time.Since(start))
	}
}

func TestAllPortsVIPBalancesEveryPortKeepingIt(t *testing.T) {
	tp := newTopology(t)
	bal, err := lb.Open(tp.client.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bal.Close() })
	allPorts := func(backends ...netip.Addr) []lb.Service {
		return []lb.Service{{Name: "web", VIP: vip, Backends: backends}}
	}
	sync(t, bal, allPorts(backendA, backendB))
	for _, proto := range []lb.Protocol{lb.TCP, lb.UDP} {
		t.Run(string(proto)+" connections share the backends", func(t *testing.T) {
			const n = 120
			got := tp.connectPort(t, proto, netip.AddrPortFrom(vip, backendPort), n)
			for _, b := range []netip.Addr{backendA, backendB} {
				if got[b.String()] < n/4 {
					t.Errorf("backend %s answered %d of %d connections, want at least %d: %v", b, got[b.String()], n, n/4, got)
				}
			}
		})
	}
	t.Run("a second port reaches the backends too", func(t *testing.T) {
		const n = 20
		got := tp.connectPort(t, lb.TCP, netip.AddrPortFrom(vip, otherPort), n)
		if got[backendA.String()]+got[backendB.String()] != n {
			t.Errorf("answers on port %d = %v, want all %d from %s or %s", otherPort, got, n, backendA, backendB)
		}
	})
	t.Run("no backend refuses every port", func(t *testing.T) {
		sync(t, bal, allPorts())
		tp.expectRefused(t, lb.TCP, netip.AddrPortFrom(vip, backendPort))
		tp.expectRefused(t, lb.TCP, netip.AddrPortFrom(vip, otherPort))
		tp.expectRefused(t, lb.UDP, netip.AddrPortFrom(vip, backendPort))
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

// askFrom sends one UDP datagram to to from the client's port from and reads
// the answering backend's address: the same source port is the same flow.
func askFrom(from uint16, to netip.AddrPort) (string, error) {
	conn, err := net.DialUDP("udp", &net.UDPAddr{Port: int(from)}, net.UDPAddrFromAddrPort(to))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("?")); err != nil {
		return "", err
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	return string(buf[:n]), err
}

func TestUDPFlowOfARemovedBackendMovesToAnother(t *testing.T) {
	tp := newTopology(t)
	bal, err := lb.Open(tp.client.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bal.Close() })
	sync(t, bal, service(lb.UDP, backendA, backendB))
	to := netip.AddrPortFrom(vip, vipPort)
	// Find a source port whose flow the balancer sent to backend A.
	var port uint16
	tp.client.MustDo(t, func() error {
		for p := uint16(40000); p < 40064; p++ {
			name, err := askFrom(p, to)
			if err != nil {
				return err
			}
			if name == backendA.String() {
				port = p
				return nil
			}
		}
		return errors.New("no flow went to backend A")
	})
	sync(t, bal, service(lb.UDP, backendB))
	tp.client.MustDo(t, func() error {
		name, err := askFrom(port, to)
		if err != nil {
			return err
		}
		if name != backendB.String() {
			return fmt.Errorf("the flow from port %d answered by %s after its backend was removed, want %s", port, name, backendB)
		}
		return nil
	})
}
