package dns_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	shoaldns "github.com/shoal-project/shoal/network/dns"
)

// serveHandler serves a Handler built from cfg on host loopback (no namespace: these
// tests need no root).
func serveHandler(t testing.TB, cfg shoaldns.Config) netip.AddrPort {
	t.Helper()
	h, err := shoaldns.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return serveLoopback(t, h)
}

func mustExchange(t *testing.T, network string, server netip.AddrPort, qname string) *dns.Msg {
	t.Helper()
	resp, err := exchange(network, server, qname, dns.TypeA)
	if err != nil {
		t.Fatalf("%s query %s: %v", network, qname, err)
	}
	return resp
}

func TestTasksAnswersRotateSoClientsSpread(t *testing.T) {
	at := serveHandler(t, shoaldns.Config{Resolver: testTable()})
	firsts := map[netip.Addr]int{}
	for range 10 {
		got := addrs(t, mustExchange(t, "udp", at, "tasks.web."), "tasks.web.")
		if !sameSet(got, []netip.Addr{webTask1, webTask2}) {
			t.Fatalf("answers = %v, want both tasks", got)
		}
		firsts[got[0]]++
	}
	if firsts[webTask1] != 5 || firsts[webTask2] != 5 {
		t.Errorf("first answers over 10 queries = %v, want each task first 5 times", firsts)
	}
}

func TestTruncatedUpstreamAnswerIsAskedAgainOverTCP(t *testing.T) {
	upstream := serveLoopback(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		resp := new(dns.Msg).SetReply(req)
		if w.LocalAddr().Network() == "udp" {
			resp.Truncated = true
		} else {
			resp.Answer = []dns.RR{aRecord(req.Question[0].Name, outside)}
		}
		_ = w.WriteMsg(resp)
	}))
	at := serveHandler(t, shoaldns.Config{Resolver: testTable(), Upstreams: []netip.AddrPort{upstream}})
	resp := mustExchange(t, "udp", at, "big.example.")
	if got := addrs(t, resp, "big.example."); !sameSet(got, []netip.Addr{outside}) || resp.Truncated {
		t.Errorf("answers = %v (truncated %v), want %v from the TCP retry", got, resp.Truncated, outside)
	}
}

func TestUnknownNameWithoutUsableUpstreamIsServfail(t *testing.T) {
	dead := serveLoopback(t, dns.HandlerFunc(func(dns.ResponseWriter, *dns.Msg) {})) // never answers
	for name, upstreams := range map[string][]netip.AddrPort{"none": nil, "silent": {dead}} {
		t.Run(name, func(t *testing.T) {
			at := serveHandler(t, shoaldns.Config{Resolver: testTable(), Upstreams: upstreams, ForwardTimeout: 200 * time.Millisecond})
			if resp := mustExchange(t, "tcp", at, "outside.example."); resp.Rcode != dns.RcodeServerFailure {
				t.Errorf("rcode = %s, want SERVFAIL", dns.RcodeToString[resp.Rcode])
			}
		})
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name string
		cfg  shoaldns.Config
		want string
	}{
		{"no resolver", shoaldns.Config{}, "Resolver"},
		{"upstream without port", shoaldns.Config{Resolver: testTable(), Upstreams: []netip.AddrPort{netip.AddrPortFrom(outside, 0)}}, "Upstreams[0]"},
		{"empty upstream", shoaldns.Config{Resolver: testTable(), Upstreams: []netip.AddrPort{{}}}, "Upstreams[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := shoaldns.NewHandler(tt.cfg)
			if !errors.Is(err, shoaldns.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewHandler: err = %v, want ErrInvalidConfig naming %s", err, tt.want)
			}
		})
	}
}
