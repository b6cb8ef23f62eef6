package dns

import (
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Handler answers one task's queries; it is the dns.Handler behind Start, usable on
// its own (tests, benchmarks, another listener).
type Handler struct {
	cfg  Config
	ttl  uint32
	next atomic.Uint32 // rotation of tasks.NAME answers
}

// NewHandler validates cfg and returns its handler.
func NewHandler(cfg Config) (*Handler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Handler{cfg: cfg, ttl: uint32(cfg.TTL.Seconds())}, nil
}

// ServeDNS implements dns.Handler.
func (h *Handler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := h.answer(req, w.LocalAddr().Network())
	if err := w.WriteMsg(resp); err != nil {
		h.cfg.Logger.Debug("write DNS answer", "err", err)
	}
}

// answer returns the reply to req, which came over network ("udp" or "tcp").
func (h *Handler) answer(req *dns.Msg, network string) *dns.Msg {
	if req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 {
		return new(dns.Msg).SetRcode(req, dns.RcodeNotImplemented)
	}
	q := req.Question[0]
	if q.Qclass == dns.ClassINET {
		if addrs, found := h.lookup(q.Name); found {
			return h.local(req, q, addrs)
		}
	}
	return h.forward(req, network)
}

func (h *Handler) lookup(qname string) ([]netip.Addr, bool) {
	for _, c := range candidates(qname, h.cfg.SearchDomains) {
		addrs, found := h.cfg.Resolver.Lookup(c.kind, c.name)
		if !found {
			continue
		}
		if c.kind == KindTasks {
			addrs = rotate(addrs, h.next.Add(1))
		}
		return addrs, true
	}
	return nil, false
}

// rotate returns addrs starting at index n mod len, as a new slice.
func rotate(addrs []netip.Addr, n uint32) []netip.Addr {
	if len(addrs) < 2 {
		return addrs
	}
	k := int(n % uint32(len(addrs)))
	return append(append(make([]netip.Addr, 0, len(addrs)), addrs[k:]...), addrs[:k]...)
}

// local answers a cluster name: its IPv4 addresses for A, nothing (NOERROR) for any
// other type.
func (h *Handler) local(req *dns.Msg, q dns.Question, addrs []netip.Addr) *dns.Msg {
	resp := new(dns.Msg).SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = true
	if q.Qtype != dns.TypeA {
		return resp
	}
	hdr := dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: h.ttl}
	for _, a := range addrs {
		if a.Is4() {
			resp.Answer = append(resp.Answer, &dns.A{Hdr: hdr, A: net.IP(a.AsSlice())})
		}
	}
	return resp
}

// forward asks the upstreams in order over the request's transport; a truncated
// UDP answer is asked again over TCP.
func (h *Handler) forward(req *dns.Msg, network string) *dns.Msg {
	for _, u := range h.cfg.Upstreams {
		resp, err := h.exchange(req, network, u)
		if err == nil && resp.Truncated && network == "udp" {
			resp, err = h.exchange(req, "tcp", u)
		}
		if err != nil {
			h.cfg.Logger.Debug("forward DNS query", "upstream", u, "name", req.Question[0].Name, "err", err)
			continue
		}
		resp.Id = req.Id
		return resp
	}
	if len(h.cfg.Upstreams) == 0 {
		h.cfg.Logger.Debug("no upstream for a name outside the cluster", slog.String("name", req.Question[0].Name))
	}
	return new(dns.Msg).SetRcode(req, dns.RcodeServerFailure)
}

func (h *Handler) exchange(req *dns.Msg, network string, upstream netip.AddrPort) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: h.cfg.ForwardTimeout}
	resp, _, err := c.Exchange(req, upstream.String())
	return resp, err
}
