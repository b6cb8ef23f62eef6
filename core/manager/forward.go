package manager

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"

	"github.com/shoal-project/shoal/core/api"
	"github.com/shoal-project/shoal/core/auth"
	"github.com/shoal-project/shoal/internal/endpoint"
)

// Headers a follower sets when it forwards a call to the leader; the leader
// trusts them only from a manager certificate (core/auth).
const (
	headerForwarded = "Shoal-Forwarded"
)

// leaderFinder says whether this manager leads and where the leader is.
type leaderFinder interface {
	IsLeader() bool
	LeaderAddr() string
}

// forwarder sends calls that only the leader can answer to the leader: one
// hop at most. It works below the RPC protocols, so Connect, gRPC and
// gRPC-web calls, unary or streaming, are forwarded alike.
type forwarder struct {
	leader   leaderFinder
	prefixes []string
	tlsConf  func() *tls.Config
	nodeID   string
	log      *slog.Logger

	mu      sync.Mutex
	proxies map[string]*httputil.ReverseProxy
	tlsUsed *tls.Config
}

func (f *forwarder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(endpoint.HeaderEntryNode, f.nodeID)
		if r.Header.Get(endpoint.HeaderLocalRead) != "" {
			r = r.WithContext(api.WithLocalRead(r.Context()))
		}
		if !f.shouldForward(r) {
			next.ServeHTTP(w, r)
			return
		}
		addr := f.leader.LeaderAddr()
		if addr == "" || f.leader.IsLeader() {
			// No leader known: the local handler answers Unavailable.
			next.ServeHTTP(w, r)
			return
		}
		id, ok := auth.FromContext(r.Context())
		r = r.Clone(r.Context())
		auth.SetForwardedHeaders(r.Header, id, ok)
		r.Header.Set(headerForwarded, f.nodeID)
		f.proxy(addr).ServeHTTP(w, r)
	})
}

func (f *forwarder) shouldForward(r *http.Request) bool {
	if r.Header.Get(headerForwarded) != "" {
		return false // one hop at most
	}
	if r.Header.Get(endpoint.HeaderLocalRead) != "" && isLocalReadable(r.URL.Path) {
		return false
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(r.URL.Path, p) {
			return true
		}
	}
	return false
}

func (f *forwarder) proxy(addr string) *httputil.ReverseProxy {
	f.mu.Lock()
	defer f.mu.Unlock()
	conf := f.tlsConf()
	if f.tlsUsed != conf {
		f.proxies = nil
		f.tlsUsed = conf
	}
	if p, ok := f.proxies[addr]; ok {
		return p
	}
	var protos http.Protocols
	protos.SetHTTP2(true)
	tr := &http.Transport{Protocols: &protos, TLSClientConfig: conf.Clone(), ForceAttemptHTTP2: true}
	target := &url.URL{Scheme: "https", Host: addr}
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = addr
		},
		Transport:     tr,
		FlushInterval: -1,
		ErrorLog:      slog.NewLogLogger(f.log.Handler(), slog.LevelWarn),
	}
	if f.proxies == nil {
		f.proxies = map[string]*httputil.ReverseProxy{}
	}
	f.proxies[addr] = p
	return p
}

// isLocalReadable says whether a procedure is a read that a follower may
// answer from its own store.
func isLocalReadable(path string) bool {
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return false
	}
	m := path[i+1:]
	return strings.HasPrefix(m, "List") || strings.HasPrefix(m, "Get")
}
