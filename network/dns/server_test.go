package dns_test

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	shoaldns "github.com/shoal-project/shoal/network/dns"
	"github.com/shoal-project/shoal/network/internal/testnetns"
)

var (
	webVIP   = netip.MustParseAddr("10.213.90.10")
	webTask1 = netip.MustParseAddr("10.213.90.21")
	webTask2 = netip.MustParseAddr("10.213.90.22")
	rrTask   = netip.MustParseAddr("10.213.90.31")
	outside  = netip.MustParseAddr("10.213.90.77") // what the test upstream answers
)

func testTable() *shoaldns.Table {
	t := &shoaldns.Table{}
	t.Set(shoaldns.Records{
		Services: map[string]shoaldns.ServiceRecord{
			"Web":   {VIP: webVIP, Tasks: []netip.Addr{webTask1, webTask2}},
			"dnsrr": {Tasks: []netip.Addr{rrTask}},
			"down":  {VIP: netip.MustParseAddr("10.213.90.40")},
		},
		Tasks: map[string]netip.Addr{"web.1.abc": webTask1},
	})
	return t
}

// startUpstream runs a resolver on host loopback that answers outside.example. and
// NXDOMAIN for anything else.
func startUpstream(t *testing.T) netip.AddrPort {
	t.Helper()
	return serveLoopback(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		resp := new(dns.Msg).SetReply(req)
		if q := req.Question[0]; q.Name == "outside.example." && q.Qtype == dns.TypeA {
			resp.Answer = []dns.RR{aRecord(q.Name, outside)}
		} else {
			resp.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(resp)
	}))
}

func aRecord(name string, a netip.Addr) *dns.A {
	return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: a.AsSlice()}
}

// serveLoopback serves h over UDP and TCP on one port of host loopback.
func serveLoopback(t testing.TB, h dns.Handler) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

func TestServerAnswersInsideTheTaskNamespace(t *testing.T) {
	ns := testnetns.New(t, "dns-task")
	srv, err := shoaldns.Start(ns.Path, shoaldns.Config{
		Resolver:      testTable(),
		Upstreams:     []netip.AddrPort{startUpstream(t)},
		SearchDomains: []string{"corp.test"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})

	tests := []struct {
		name  string
		qname string
		qtype uint16
		rcode int
		want  []netip.Addr // compared as a set
	}{
		{"service name is its VIP", "web.", dns.TypeA, dns.RcodeSuccess, []netip.Addr{webVIP}},
		{"names are case-insensitive", "WEB.", dns.TypeA, dns.RcodeSuccess, []netip.Addr{webVIP}},
		{"search domain form", "web.corp.test.", dns.TypeA, dns.RcodeSuccess, []netip.Addr{webVIP}},
		{"tasks.NAME is every healthy task", "tasks.web.", dns.TypeA, dns.RcodeSuccess, []netip.Addr{webTask1, webTask2}},
		{"service without VIP answers its tasks", "dnsrr.", dns.TypeA, dns.RcodeSuccess, []netip.Addr{rrTask}},
		{"service with no healthy task", "tasks.down.", dns.TypeA, dns.RcodeSuccess, nil},
		{"task name is its address", "web.1.abc.", dns.TypeA, dns.RcodeSuccess, []netip.Addr{webTask1}},
		{"AAAA of a known name is empty", "web.", dns.TypeAAAA, dns.RcodeSuccess, nil},
		{"other names are forwarded", "outside.example.", dns.TypeA, dns.RcodeSuccess, []netip.Addr{outside}},
		{"forwarded NXDOMAIN", "tasks.nosuch.", dns.TypeA, dns.RcodeNameError, nil},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(network+"/"+tt.name, func(t *testing.T) {
				resp := query(t, ns, network, tt.qname, tt.qtype)
				if resp.Rcode != tt.rcode {
					t.Fatalf("rcode = %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
				}
				if got := addrs(t, resp, tt.qname); !sameSet(got, tt.want) {
					t.Errorf("answers = %v, want %v", got, tt.want)
				}
			})
		}
	}
}

// query asks the server from a socket inside the namespace.
func query(t *testing.T, ns *testnetns.NS, network, qname string, qtype uint16) *dns.Msg {
	t.Helper()
	var resp *dns.Msg
	ns.MustDo(t, func() (err error) {
		resp, err = exchange(network, shoaldns.DefaultListen, qname, qtype)
		return err
	})
	return resp
}

func exchange(network string, server netip.AddrPort, qname string, qtype uint16) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: 10 * time.Second}
	resp, _, err := c.Exchange(new(dns.Msg).SetQuestion(qname, qtype), server.String())
	return resp, err
}

func addrs(t *testing.T, resp *dns.Msg, qname string) []netip.Addr {
	t.Helper()
	var out []netip.Addr
	for _, rr := range resp.Answer {
		a, ok := rr.(*dns.A)
		if !ok || a.Hdr.Name != qname {
			t.Fatalf("answer %v: want an A record for %s", rr, qname)
		}
		addr, _ := netip.AddrFromSlice(a.A.To4())
		out = append(out, addr)
	}
	return out
}

func sameSet(a, b []netip.Addr) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, netip.Addr.Compare)
	slices.SortFunc(b, netip.Addr.Compare)
	return slices.Equal(a, b)
}

func TestStopFreesTheAddressForTheNextServer(t *testing.T) {
	ns := testnetns.New(t, "dns-restart")
	cfg := shoaldns.Config{Resolver: testTable()}
	first, err := shoaldns.Start(ns.Path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shoaldns.Start(ns.Path, cfg); err == nil || !strings.Contains(err.Error(), "127.0.0.11:53") {
		t.Fatalf("second Start while the first serves: err = %v, want an error naming 127.0.0.11:53", err)
	}
	if err := first.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	second, err := shoaldns.Start(ns.Path, cfg)
	if err != nil {
		t.Fatalf("Start after Stop: %v", err)
	}
	t.Cleanup(func() { _ = second.Stop() })
	for _, network := range []string{"udp", "tcp"} {
		if got := addrs(t, query(t, ns, network, "web.", dns.TypeA), "web."); !sameSet(got, []netip.Addr{webVIP}) {
			t.Errorf("%s answers after restart = %v, want %v", network, got, webVIP)
		}
	}
}
