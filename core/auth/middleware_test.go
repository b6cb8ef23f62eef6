package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/core/ca"
)

// observe runs r through Middleware and returns what the handler saw.
func observe(t *testing.T, r *http.Request) (Identity, bool, string, http.Header) {
	t.Helper()
	var (
		id     Identity
		ok     bool
		reason string
		hdr    http.Header
		called bool
	)
	h := Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		called = true
		id, ok = FromContext(r.Context())
		reason = anonymousReason(r.Context())
		hdr = r.Header.Clone()
	}))
	h.ServeHTTP(httptest.NewRecorder(), r)
	if !called {
		t.Fatalf("handler not called")
	}
	return id, ok, reason, hdr
}

func TestMiddleware(t *testing.T) {
	c := newTestCluster(t, "cl")
	unverified := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c.manager.Leaf}}
	cases := []struct {
		name       string
		tls        *tls.ConnectionState
		local      bool
		fwdRole    []string
		fwdNode    string
		want       Identity
		wantOK     bool
		wantReason string
	}{
		{name: "manager cert", tls: verifiedState(c.manager, c.root), want: Identity{NodeID: "m1", ClusterID: "cl", Role: ca.RoleManager}, wantOK: true},
		{name: "worker cert", tls: verifiedState(c.worker, c.root), want: Identity{NodeID: "w1", ClusterID: "cl", Role: ca.RoleWorker}, wantOK: true},
		{name: "admin cert", tls: verifiedState(c.admin, c.root), want: Identity{NodeID: "ops", ClusterID: "cl", Role: ca.RoleAdmin}, wantOK: true},
		{name: "TLS without cert", tls: &tls.ConnectionState{}, wantReason: "no client certificate"},
		{name: "unverified cert", tls: unverified, wantReason: "not verified"},
		{name: "plain TCP", wantReason: "neither TLS nor the local admin socket"},
		{name: "local admin", local: true, want: Identity{Role: ca.RoleAdmin, Local: true}, wantOK: true},
		{name: "local mark ignored on TLS", tls: &tls.ConnectionState{}, local: true, wantReason: "no client certificate"},

		{name: "manager forwards worker", tls: verifiedState(c.manager, c.root), fwdRole: []string{"worker"}, fwdNode: "w9",
			want: Identity{NodeID: "w9", ClusterID: "cl", Role: ca.RoleWorker, ForwardedBy: "m1"}, wantOK: true},
		{name: "manager forwards admin without node", tls: verifiedState(c.manager, c.root), fwdRole: []string{"admin"},
			want: Identity{ClusterID: "cl", Role: ca.RoleAdmin, ForwardedBy: "m1"}, wantOK: true},
		{name: "manager forwards anonymous", tls: verifiedState(c.manager, c.root), fwdRole: []string{"none"}, wantReason: "forwarded by manager m1"},
		{name: "manager forwards bad role", tls: verifiedState(c.manager, c.root), fwdRole: []string{"root"}, wantReason: "invalid role"},
		{name: "manager forwards two roles", tls: verifiedState(c.manager, c.root), fwdRole: []string{"worker", "admin"}, wantReason: "2 Shoal-Forwarded-Role headers"},
		{name: "worker header ignored", tls: verifiedState(c.worker, c.root), fwdRole: []string{"manager"}, fwdNode: "m1",
			want: Identity{NodeID: "w1", ClusterID: "cl", Role: ca.RoleWorker}, wantOK: true},
		{name: "admin header ignored", tls: verifiedState(c.admin, c.root), fwdRole: []string{"manager"},
			want: Identity{NodeID: "ops", ClusterID: "cl", Role: ca.RoleAdmin}, wantOK: true},
		{name: "local admin header ignored", local: true, fwdRole: []string{"manager"},
			want: Identity{Role: ca.RoleAdmin, Local: true}, wantOK: true},
		{name: "anonymous header ignored", tls: &tls.ConnectionState{}, fwdRole: []string{"manager"}, wantReason: "no client certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/shoal.v1.ControlService/ListNodes", nil)
			r.TLS = tc.tls
			if tc.local {
				r = r.WithContext(WithLocalAdmin(r.Context()))
			}
			for _, v := range tc.fwdRole {
				r.Header.Add(HeaderForwardedRole, v)
			}
			if tc.fwdNode != "" {
				r.Header.Set(HeaderForwardedNode, tc.fwdNode)
			}
			// An identity smuggled into the context from outside is replaced.
			r = r.WithContext(WithIdentity(r.Context(), Identity{Role: ca.RoleManager, NodeID: "smuggled"}))
			id, ok, reason, hdr := observe(t, r)
			if ok != tc.wantOK || id != tc.want {
				t.Fatalf("identity = %+v, %v; want %+v, %v", id, ok, tc.want, tc.wantOK)
			}
			if !ok && !strings.Contains(reason, tc.wantReason) {
				t.Errorf("reason = %q, want it to mention %q", reason, tc.wantReason)
			}
			if hdr.Get(HeaderForwardedRole) != "" || hdr.Get(HeaderForwardedNode) != "" {
				t.Errorf("forwarding headers reached the handler: %v", hdr)
			}
		})
	}
}

func TestSetForwardedHeadersRoundTrip(t *testing.T) {
	c := newTestCluster(t, "cl")
	cases := []struct {
		id Identity
		ok bool
	}{
		{Identity{NodeID: "w1", ClusterID: "cl", Role: ca.RoleWorker}, true},
		{Identity{ClusterID: "cl", Role: ca.RoleAdmin, Local: true}, true},
		{Identity{}, false},
	}
	for _, tc := range cases {
		r := httptest.NewRequest(http.MethodPost, "/x.S/M", nil)
		r.TLS = verifiedState(c.manager, c.root)
		SetForwardedHeaders(r.Header, tc.id, tc.ok)
		got, ok, _, _ := observe(t, r)
		want := Identity{NodeID: tc.id.NodeID, ClusterID: "cl", Role: tc.id.Role, ForwardedBy: "m1"}
		if ok != tc.ok || (ok && got != want) {
			t.Errorf("forwarded %+v/%v arrived as %+v/%v", tc.id, tc.ok, got, ok)
		}
	}
}

func TestLocalAdminConnContext(t *testing.T) {
	dir := t.TempDir()
	ul, err := net.Listen("unix", dir+"/admin.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	for _, tc := range []struct {
		ln   net.Listener
		want bool
	}{{ul, true}, {tl, false}} {
		go func() {
			c, err := net.Dial(tc.ln.Addr().Network(), tc.ln.Addr().String())
			if err == nil {
				c.Close()
			}
		}()
		c, err := tc.ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if got := isLocalAdmin(LocalAdminConnContext(context.Background(), c)); got != tc.want {
			t.Errorf("%s connection: local admin = %v, want %v", tc.ln.Addr().Network(), got, tc.want)
		}
		c.Close()
	}
}
