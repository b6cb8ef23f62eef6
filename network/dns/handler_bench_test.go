package dns_test

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	shoaldns "github.com/shoal-project/shoal/network/dns"
)

// BenchmarkQuery measures answered queries per second over one UDP client socket
// against a server on host loopback (the same handler Start serves inside a task's
// namespace): a cluster name, tasks.NAME, and a name forwarded to a loopback upstream.
func BenchmarkQuery(b *testing.B) {
	upstream := serveLoopback(b, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		resp := new(dns.Msg).SetReply(req)
		resp.Answer = []dns.RR{aRecord(req.Question[0].Name, outside)}
		_ = w.WriteMsg(resp)
	}))
	at := serveHandler(b, shoaldns.Config{Resolver: testTable(), Upstreams: []netip.AddrPort{upstream}})
	for _, qname := range []string{"web.", "tasks.web.", "outside.example."} {
		b.Run(qname, func(b *testing.B) {
			c := &dns.Client{Net: "udp"}
			conn, err := c.Dial(at.String())
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			req := new(dns.Msg).SetQuestion(qname, dns.TypeA)
			for b.Loop() {
				if resp, _, err := c.ExchangeWithConn(req, conn); err != nil || len(resp.Answer) == 0 {
					b.Fatalf("query %s: %v %v", qname, resp, err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
		})
	}
}
