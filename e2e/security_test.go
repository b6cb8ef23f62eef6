package e2e

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/ca"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/internal/httpclient"
)

// headerRT adds fixed headers to every request (to try forging the
// forwarding headers).
type headerRT struct {
	next http.RoundTripper
	h    map[string]string
}

func (h headerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.h {
		r.Header.Set(k, v)
	}
	return h.next.RoundTrip(r)
}

func tlsClient(conf *tls.Config, hdr map[string]string) *http.Client {
	hc := httpclient.TLS(conf)
	if hdr != nil {
		hc.Transport = headerRT{next: hc.Transport, h: hdr}
	}
	return hc
}

func callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 20*time.Second)
}

// wantCode fails unless err is a Connect error with code.
func wantCode(t *testing.T, what string, err error, code connect.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want %v", what, code)
	}
	if got := connect.CodeOf(err); got != code {
		t.Fatalf("%s: %v (code %v), want %v", what, err, got, code)
	}
	t.Logf("%s: %v", what, err)
}

// nodeCount lists the nodes through m.
func nodeCount(t *testing.T, m *manager) int {
	t.Helper()
	nodes, err := m.nodes(t, false)
	if err != nil {
		t.Fatal(err)
	}
	return len(nodes)
}

func countJoined(log string) int { return strings.Count(log, `msg="node joined"`) }

func TestSecurity(t *testing.T) {
	c := newCluster(t, "--raft-tick", "50ms")
	m1 := c.init("m1")
	m2 := c.joinManager("m2", m1)
	agreeOnLeader(t, []*manager{m1, m2}, 2)

	// A worker joins: its process gets a worker certificate.
	wtok := strings.TrimSpace(mustRun(t, "--data-dir", m1.dir, "join-token", "worker", "-q"))
	wdir := filepath.Join(c.base, "w1")
	startProc(t, c.base, "w1", "join", "--data-dir", wdir, "--listen-addr", freeAddr(t), "--hostname", "w1", "--token", wtok, m1.addr)
	var worker ca.NodeTLS
	eventually(t, startTimeout, "the worker has its certificate", func() error {
		var err error
		worker, err = ca.LoadNodeTLS(filepath.Join(wdir, "certs"))
		return err
	})
	if worker.Identity.Role != ca.RoleWorker {
		t.Fatalf("worker certificate names role %q", worker.Identity.Role)
	}
	workerTLS := ca.ClientTLSConfig(worker.Root, &worker.Certificate, "")
	anonTLS := ca.ClientTLSConfig(worker.Root, nil, "")

	for _, m := range []*manager{m1, m2} {
		base := "https://" + m.addr
		ctx, cancel := callCtx()
		// Worker certificate: no ControlService, no RaftService.
		ctl := shoalv1connect.NewControlServiceClient(tlsClient(workerTLS, nil), base, connect.WithGRPC())
		_, err := ctl.ListNodes(ctx, connect.NewRequest(&shoalv1.ListNodesRequest{}))
		wantCode(t, "worker cert ListNodes via "+m.name, err, connect.CodePermissionDenied)
		_, err = ctl.UpdateNode(ctx, connect.NewRequest(&shoalv1.UpdateNodeRequest{Node: m1.nodeID, LabelAdd: map[string]string{"pwned": "1"}}))
		wantCode(t, "worker cert UpdateNode via "+m.name, err, connect.CodePermissionDenied)
		rc := shoalv1connect.NewRaftServiceClient(tlsClient(workerTLS, nil), base, connect.WithGRPC())
		_, err = rc.ResolveAddress(ctx, connect.NewRequest(&shoalv1.ResolveAddressRequest{RaftId: 1}))
		wantCode(t, "worker cert RaftService.ResolveAddress via "+m.name, err, connect.CodePermissionDenied)
		_, err = rc.Join(ctx, connect.NewRequest(&shoalv1.JoinRequest{Addr: "127.0.0.1:1"}))
		wantCode(t, "worker cert RaftService.Join via "+m.name, err, connect.CodePermissionDenied)

		// Forged forwarding headers from a worker or an anonymous caller
		// change nothing: only a manager peer may set them.
		forged := map[string]string{"Shoal-Forwarded-Role": "admin", "Shoal-Forwarded": "x"}
		ctlF := shoalv1connect.NewControlServiceClient(tlsClient(workerTLS, forged), base, connect.WithGRPC())
		_, err = ctlF.ListNodes(ctx, connect.NewRequest(&shoalv1.ListNodesRequest{}))
		wantCode(t, "worker cert with forged Shoal-Forwarded-Role: admin via "+m.name, err, connect.CodePermissionDenied)

		// No certificate: unauthenticated.
		anon := shoalv1connect.NewControlServiceClient(tlsClient(anonTLS, nil), base, connect.WithGRPC())
		_, err = anon.ListNodes(ctx, connect.NewRequest(&shoalv1.ListNodesRequest{}))
		wantCode(t, "no cert ListNodes via "+m.name, err, connect.CodeUnauthenticated)
		anonF := shoalv1connect.NewControlServiceClient(tlsClient(anonTLS, forged), base, connect.WithGRPC())
		_, err = anonF.ListNodes(ctx, connect.NewRequest(&shoalv1.ListNodesRequest{}))
		wantCode(t, "no cert with forged Shoal-Forwarded-Role: admin via "+m.name, err, connect.CodeUnauthenticated)
		anonR := shoalv1connect.NewRaftServiceClient(tlsClient(anonTLS, nil), base, connect.WithGRPC())
		_, err = anonR.Join(ctx, connect.NewRequest(&shoalv1.JoinRequest{Addr: "127.0.0.1:1"}))
		wantCode(t, "no cert RaftService.Join via "+m.name, err, connect.CodeUnauthenticated)
		cancel()

		// Positive control: this cluster's admin certificate works over TLS.
		if r := run(t, "--host", m.addr, "--tls-dir", filepath.Join(m1.dir, "admin"), "node", "ls"); r.Code != 0 {
			t.Fatalf("admin cert via %s: %s", m.name, r)
		}
	}

	// Another cluster's admin certificate cannot connect.
	other := newCluster(t, "--raft-tick", "50ms")
	b1 := other.init("b1")
	otherAdmin := filepath.Join(b1.dir, "admin")
	r := run(t, "--host", m1.addr, "--tls-dir", otherAdmin, "node", "ls")
	if r.Code == 0 {
		t.Fatalf("another cluster's admin cert was accepted: %s", r)
	}
	t.Logf("other cluster's admin dir (trusting its own CA): %s", strings.TrimSpace(r.Stderr))
	// Even when the client trusts this cluster's root (so that only the
	// server decides) and always presents its foreign certificate, the TLS
	// handshake fails.
	foreign, err := ca.LoadClientTLS(otherAdmin)
	if err != nil {
		t.Fatal(err)
	}
	foreign.RootCAs = worker.Root.Pool()
	forced := foreign.Clone()
	var cert tls.Certificate
	if len(forced.Certificates) > 0 {
		cert = forced.Certificates[0]
	} else {
		c, err := forced.GetClientCertificate(&tls.CertificateRequestInfo{})
		if err != nil || c == nil {
			t.Fatalf("admin TLS config presents no certificate: %v", err)
		}
		cert = *c
	}
	forced.Certificates = nil
	forced.VerifyConnection = nil // the client's own cluster check would fail first; let the server decide
	forced.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	if err := rawHandshake(m1.addr, forced); err == nil || !strings.Contains(err.Error(), "tls") {
		t.Fatalf("foreign admin certificate: handshake did not fail with a TLS error: %v", err)
	} else {
		t.Logf("foreign admin certificate, raw TLS: %v", err)
	}
	fc := shoalv1connect.NewControlServiceClient(tlsClient(forced, nil), "https://"+m1.addr, connect.WithGRPC())
	ctx, cancel := callCtx()
	_, err = fc.ListNodes(ctx, connect.NewRequest(&shoalv1.ListNodesRequest{}))
	cancel()
	wantNoServerAnswer(t, "foreign admin certificate (always presented), ListNodes", err)

	// The same through the shoal client library's admin TLS set-up, as the
	// CLI's --host/--tls-dir uses it: the foreign certificate must not be
	// silently dropped (which would make the caller anonymous).
	t.Run("client library presents a foreign admin cert", func(t *testing.T) {
		lc := shoalv1connect.NewControlServiceClient(tlsClient(foreign, nil), "https://"+m1.addr, connect.WithGRPC())
		ctx, cancel := callCtx()
		defer cancel()
		_, err := lc.ListNodes(ctx, connect.NewRequest(&shoalv1.ListNodesRequest{}))
		wantNoServerAnswer(t, "foreign admin certificate via ca.LoadClientTLS, ListNodes", err)
	})

	// Join tokens: a wrong CA digest and a wrong secret are refused, and no
	// node is created.
	parts := strings.Split(wtok, "-")
	if len(parts) != 4 {
		t.Fatalf("worker token %q: want 4 dash-separated parts", wtok)
	}
	otherTok := strings.TrimSpace(mustRun(t, "--data-dir", b1.dir, "join-token", "worker", "-q"))
	otherDigest := strings.Split(otherTok, "-")[2]
	cases := []struct {
		name, token, want string
	}{
		{"wrong CA digest", strings.Join([]string{parts[0], parts[1], otherDigest, parts[3]}, "-"), "digest"},
		{"wrong secret", strings.Join([]string{parts[0], parts[1], parts[2], strings.Repeat("0", ca.SecretLen)}, "-"), "token"},
		{"other cluster's token", otherTok, "digest"},
	}
	for _, tc := range cases {
		nodesBefore, joinedBefore := nodeCount(t, m1), countJoined(m1.log())+countJoined(m2.log())
		dir := filepath.Join(c.base, "bad-"+strings.ReplaceAll(tc.name, " ", "-"))
		start := time.Now()
		r := run(t, "join", "--data-dir", dir, "--listen-addr", freeAddr(t), "--hostname", "intruder", "--token", tc.token, m1.addr)
		if r.Code == 0 {
			t.Fatalf("%s: join succeeded: %s", tc.name, r)
		}
		if !strings.Contains(strings.ToLower(r.Stderr), tc.want) {
			t.Fatalf("%s: stderr does not mention %q: %s", tc.name, tc.want, r)
		}
		t.Logf("%s: refused in %s: %s", tc.name, time.Since(start).Round(time.Millisecond), strings.TrimSpace(r.Stderr))
		if _, err := os.Stat(filepath.Join(dir, "node.json")); err == nil {
			t.Fatalf("%s: the refused join left a node.json in %s", tc.name, dir)
		}
		if _, err := ca.LoadNodeTLS(filepath.Join(dir, "certs")); err == nil {
			t.Fatalf("%s: the refused join left a certificate in %s", tc.name, dir)
		}
		if n := nodeCount(t, m1); n != nodesBefore {
			t.Fatalf("%s: the cluster has %d nodes, had %d", tc.name, n, nodesBefore)
		}
		if j := countJoined(m1.log()) + countJoined(m2.log()); j != joinedBefore {
			t.Fatalf("%s: a manager logged a node joining", tc.name)
		}
		nodes, err := m1.nodes(t, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if n.GetDescription().GetHostname() == "intruder" {
				t.Fatalf("%s: node %s named intruder is in the store", tc.name, n.GetId())
			}
		}
	}

	// A removed worker's certificate is refused from then on.
	if r := m1.cli(t, "node", "rm", "--force", worker.Identity.NodeID); r.Code != 0 {
		t.Fatalf("%s", r)
	}
	cac := shoalv1connect.NewCAServiceClient(tlsClient(workerTLS, nil), "https://"+m1.addr, connect.WithGRPC())
	ctx, cancel = callCtx()
	defer cancel()
	_, err = cac.NodeCertificateStatus(ctx, connect.NewRequest(&shoalv1.NodeCertificateStatusRequest{}))
	wantCode(t, "removed worker's cert NodeCertificateStatus", err, connect.CodePermissionDenied)
	if !strings.Contains(err.Error(), "removed") {
		t.Fatalf("removed worker: error does not say the node was removed: %v", err)
	}
}

// rawHandshake dials addr with conf and reads once: with TLS 1.3 the
// server's verdict on the client certificate arrives after the client's
// side of the handshake is done.
func rawHandshake(addr string, conf *tls.Config) error {
	conf = conf.Clone()
	conf.NextProtos = []string{"h2"}
	conn, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")); err != nil {
		return err
	}
	_, err = conn.Read(make([]byte, 64))
	return err
}

// wantNoServerAnswer fails unless err shows the call never reached the
// server's handlers (no Connect error the server wrote).
func wantNoServerAnswer(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded", what)
	}
	switch code := connect.CodeOf(err); code {
	case connect.CodePermissionDenied, connect.CodeUnauthenticated:
		t.Fatalf("%s: got past the TLS handshake (server answered %v): %v", what, code, err)
	}
	t.Logf("%s: %v", what, err)
}
