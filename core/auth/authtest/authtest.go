// Package authtest serves and calls the API in tests of the components
// behind core/auth (dispatcher, agent) without certificates: the caller's
// node ID travels in a test header, over unencrypted HTTP/2. Tests only.
package authtest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/shoal-project/shoal/core/auth"
	"github.com/shoal-project/shoal/core/ca"
)

// header carries the calling node's ID in place of a certificate.
const header = "X-Test-Node"

// NewServer serves h over HTTP/1.1 and h2c, each call carrying the worker
// identity its client named, as core/auth's middleware would set it. The
// server is closed when the test ends.
func NewServer(t testing.TB, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := r.Header.Get(header); n != "" {
			r = r.WithContext(auth.WithIdentity(r.Context(), auth.Identity{NodeID: n, Role: ca.RoleWorker}))
		}
		h.ServeHTTP(w, r)
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// Client is an h2c client whose calls name node as the caller. Its idle
// connections are closed when the test ends.
func Client(t testing.TB, node string) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: nodeTransport{node: node, next: tr}}
}

type nodeTransport struct {
	node string
	next http.RoundTripper
}

func (t nodeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(header, t.node)
	return t.next.RoundTrip(r)
}
