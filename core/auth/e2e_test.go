package auth_test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/shoal-project/shoal/core/auth"
	"github.com/shoal-project/shoal/core/ca"
	"github.com/shoal-project/shoal/core/ca/catest"
	"github.com/shoal-project/shoal/internal/httpclient"
	"github.com/shoal-project/shoal/internal/syncbuf"
)

const (
	procListNodes  = "/shoal.v1.ControlService/ListNodes"
	procGetRoot    = "/shoal.v1.CAService/GetRootCACertificate"
	procCertStatus = "/shoal.v1.CAService/NodeCertificateStatus"
	procHealth     = "/grpc.health.v1.Health/Check"
	procSession    = "/shoal.v1.DispatcherService/Session"
	procRaftStep   = "/shoal.v1.RaftService/Step"
)

// cluster holds a root and one certificate per role.
type cluster struct {
	root                   *ca.RootCA
	manager, worker, admin tls.Certificate
}

func newCluster(t *testing.T, id string) *cluster {
	t.Helper()
	now := time.Now()
	root, err := ca.NewRootCA(id, now)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{root: root, manager: catest.Issue(t, root, "m1", ca.RoleManager, now), worker: catest.Issue(t, root, "w1", ca.RoleWorker, now), admin: catest.Issue(t, root, "ops", ca.RoleAdmin, now)}
}

// node is a running shoal-like server: every handler answers with the
// caller's identity, behind auth.Middleware and the default policy.
type node struct {
	url       string
	sockPath  string
	hits      atomic.Int64
	serverLog syncbuf.Buffer
}

func whoami(n *node) func(context.Context, *connect.Request[emptypb.Empty]) (*connect.Response[wrapperspb.StringValue], error) {
	return func(ctx context.Context, _ *connect.Request[emptypb.Empty]) (*connect.Response[wrapperspb.StringValue], error) {
		n.hits.Add(1)
		id, ok := auth.FromContext(ctx)
		if !ok {
			return connect.NewResponse(wrapperspb.String("anonymous")), nil
		}
		return connect.NewResponse(wrapperspb.String(id.String())), nil
	}
}

func startNode(t *testing.T, c *cluster) *node {
	t.Helper()
	n := &node{}
	opts := connect.WithInterceptors(auth.NewInterceptor(auth.DefaultPolicy()))
	mux := http.NewServeMux()
	for _, proc := range []string{procListNodes, procGetRoot, procCertStatus, procHealth, procRaftStep} {
		mux.Handle(proc, connect.NewUnaryHandler(proc, whoami(n), opts))
	}
	mux.Handle(procSession, connect.NewServerStreamHandler(procSession,
		func(ctx context.Context, _ *connect.Request[emptypb.Empty], s *connect.ServerStream[wrapperspb.StringValue]) error {
			n.hits.Add(1)
			id, _ := auth.FromContext(ctx)
			for range 2 {
				if err := s.Send(wrapperspb.String(id.String())); err != nil {
					return err
				}
			}
			return nil
		}, opts))
	handler := auth.Middleware(mux)

	// The mutual-TLS port.
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, TLSConfig: ca.ServerTLSConfig(c.root, c.manager), Protocols: &protos, ReadHeaderTimeout: 30 * time.Second, ErrorLog: log.New(&n.serverLog, "", 0)}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	n.url = "https://" + ln.Addr().String()

	// The local admin socket: h2c, no TLS.
	var h2c http.Protocols
	h2c.SetHTTP1(true)
	h2c.SetUnencryptedHTTP2(true)
	n.sockPath = filepath.Join(t.TempDir(), "admin.sock")
	ul, err := net.Listen("unix", n.sockPath)
	if err != nil {
		t.Fatal(err)
	}
	usrv := &http.Server{Handler: handler, ConnContext: auth.LocalAdminConnContext, Protocols: &h2c, ReadHeaderTimeout: 30 * time.Second, ErrorLog: quietLog}
	go func() { _ = usrv.Serve(ul) }()
	t.Cleanup(func() { _ = usrv.Close() })
	return n
}

// tlsClient calls over mutual TLS; cert may be nil.
func tlsClient(root *ca.RootCA, cert *tls.Certificate) *http.Client {
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	tr := &http.Transport{TLSClientConfig: ca.ClientTLSConfig(root, cert, ca.ManagerServerName), Protocols: &protos}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

func unixClient(path string) *http.Client {
	c := httpclient.Unix(path)
	c.Timeout = 60 * time.Second
	return c
}

// quietLog drops the servers' expected handshake-failure logs.
var quietLog = log.New(io.Discard, "", 0)

var protocols = []struct {
	name string
	opt  connect.ClientOption
}{
	{"connect", connect.WithProtoJSON()},
	{"grpc", connect.WithGRPC()},
	{"grpcweb", connect.WithGRPCWeb()},
}

// call makes a unary call and returns the answer or the error code.
func call(t *testing.T, hc *http.Client, base, proc string, opt connect.ClientOption, hdr http.Header) (string, error) {
	t.Helper()
	client := connect.NewClient[emptypb.Empty, wrapperspb.StringValue](hc, base+proc, opt)
	req := connect.NewRequest(&emptypb.Empty{})
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header().Add(k, v)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := client.CallUnary(ctx, req)
	if err != nil {
		return "", err
	}
	return resp.Msg.GetValue(), nil
}

func TestEndToEndPolicyOverMutualTLS(t *testing.T) {
	c := newCluster(t, "cl")
	n := startNode(t, c)
	fwd := func(role, node string) http.Header {
		h := http.Header{}
		h.Set(auth.HeaderForwardedRole, role)
		if node != "" {
			h.Set(auth.HeaderForwardedNode, node)
		}
		return h
	}
	cases := []struct {
		name     string
		cert     *tls.Certificate // nil: no certificate
		proc     string
		hdr      http.Header
		wantCode connect.Code // 0: success
		want     string       // answer, or substring of the error message
	}{
		{"manager lists nodes", &c.manager, procListNodes, nil, 0, "manager m1"},
		{"admin lists nodes", &c.admin, procListNodes, nil, 0, "admin ops"},
		{"worker lists nodes", &c.worker, procListNodes, nil, connect.CodePermissionDenied, "worker certificates may not call shoal.v1.ControlService"},
		{"no cert lists nodes", nil, procListNodes, nil, connect.CodeUnauthenticated, "requires a client certificate: no client certificate"},
		{"no cert gets root", nil, procGetRoot, nil, 0, "anonymous"},
		{"no cert health", nil, procHealth, nil, 0, "anonymous"},
		{"no cert cert status", nil, procCertStatus, nil, connect.CodeUnauthenticated, ""},
		{"worker cert status", &c.worker, procCertStatus, nil, 0, "worker w1"},
		{"worker raft", &c.worker, procRaftStep, nil, connect.CodePermissionDenied, "worker certificates may not call shoal.v1.RaftService"},
		{"worker forges manager", &c.worker, procListNodes, fwd("manager", "m1"), connect.CodePermissionDenied, "worker certificates may not call"},
		{"worker forges admin", &c.worker, procListNodes, fwd("admin", ""), connect.CodePermissionDenied, "worker certificates may not call"},
		{"admin forges manager for raft", &c.admin, procRaftStep, fwd("manager", "m1"), connect.CodePermissionDenied, "admin certificates may not call shoal.v1.RaftService"},
		{"anonymous forges manager", nil, procListNodes, fwd("manager", "m1"), connect.CodeUnauthenticated, ""},
		{"manager forwards admin", &c.manager, procListNodes, fwd("admin", "ops"), 0, "admin ops via manager m1"},
		{"manager forwards worker", &c.manager, procListNodes, fwd("worker", "w7"), connect.CodePermissionDenied, "worker callers (forwarded by manager m1) may not call shoal.v1.ControlService"},
		{"manager forwards anonymous", &c.manager, procListNodes, fwd(auth.ForwardedRoleNone, ""), connect.CodeUnauthenticated, "forwarded by manager m1"},
		{"manager forwards anonymous to public", &c.manager, procGetRoot, fwd(auth.ForwardedRoleNone, ""), 0, "anonymous"},
	}
	for _, p := range protocols {
		for _, tc := range cases {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				got, err := call(t, tlsClient(c.root, tc.cert), n.url, tc.proc, p.opt, tc.hdr)
				if tc.wantCode == 0 {
					if err != nil || got != tc.want {
						t.Fatalf("got %q, %v; want %q", got, err, tc.want)
					}
					return
				}
				if code := connect.CodeOf(err); code != tc.wantCode {
					t.Fatalf("err = %v (code %v), want code %v", err, code, tc.wantCode)
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %q, want it to mention %q", err, tc.want)
				}
			})
		}
	}
}

func TestEndToEndStreaming(t *testing.T) {
	c := newCluster(t, "cl")
	n := startNode(t, c)
	cases := []struct {
		name     string
		cert     *tls.Certificate
		wantCode connect.Code
	}{
		{"worker", &c.worker, 0},
		{"manager", &c.manager, 0},
		{"admin", &c.admin, connect.CodePermissionDenied},
		{"no cert", nil, connect.CodeUnauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := connect.NewClient[emptypb.Empty, wrapperspb.StringValue](tlsClient(c.root, tc.cert), n.url+procSession, connect.WithGRPC())
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			stream, err := client.CallServerStream(ctx, connect.NewRequest(&emptypb.Empty{}))
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			got := 0
			for stream.Receive() {
				got++
			}
			if code := connect.CodeOf(stream.Err()); tc.wantCode != 0 && code != tc.wantCode {
				t.Fatalf("stream err = %v, want code %v", stream.Err(), tc.wantCode)
			}
			if tc.wantCode == 0 && (stream.Err() != nil || got != 2) {
				t.Fatalf("got %d messages, err %v", got, stream.Err())
			}
		})
	}
}

func TestForeignCertificateFailsHandshake(t *testing.T) {
	a := newCluster(t, "cluster-a")
	b := newCluster(t, "cluster-b")
	n := startNode(t, a)
	before := n.hits.Load()
	for _, tc := range []struct {
		name   string
		client *http.Client
	}{
		// Trusts cluster A but presents B's manager certificate.
		{"cert from another CA", tlsClient(a.root, &b.manager)},
		// Trusts only cluster B: A's server certificate fails verification.
		{"client trusts another CA", tlsClient(b.root, &b.manager)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := call(t, tc.client, n.url, procGetRoot, connect.WithGRPC(), nil)
			if err == nil {
				t.Fatalf("call succeeded")
			}
			// The failure surfaces as a transport error (its code varies
			// with timing: Unavailable, Canceled, Unknown), never as an
			// answer from the policy.
			switch connect.CodeOf(err) {
			case connect.CodeUnauthenticated, connect.CodePermissionDenied:
				t.Fatalf("err = %v: the request got past the handshake", err)
			}
		})
	}
	if n.hits.Load() != before {
		t.Fatalf("a handler ran for a foreign certificate")
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(n.serverLog.String(), "TLS handshake error") {
		if time.Now().After(deadline) {
			t.Fatalf("server logged no handshake failure; log: %q", n.serverLog.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLocalAdminSocket(t *testing.T) {
	c := newCluster(t, "cl")
	n := startNode(t, c)
	hc := unixClient(n.sockPath)
	got, err := call(t, hc, "http://shoal", procListNodes, connect.WithGRPC(), nil)
	if err != nil || got != "admin (local)" {
		t.Fatalf("local admin ListNodes: %q, %v", got, err)
	}
	_, err = call(t, hc, "http://shoal", procRaftStep, connect.WithGRPC(), nil)
	if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "the local admin may not call shoal.v1.RaftService") {
		t.Fatalf("local admin raft: %v", err)
	}
	// Forwarding headers on the socket are ignored: it is not a manager.
	h := http.Header{}
	h.Set(auth.HeaderForwardedRole, "manager")
	if _, err := call(t, hc, "http://shoal", procRaftStep, connect.WithGRPC(), h); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("forged header on socket: %v", err)
	}
}

func TestPlainTCPIsAnonymous(t *testing.T) {
	// A server that forgot TLS (and is not the admin socket) gets no
	// identity from the middleware even with the ConnContext hook.
	var h2c http.Protocols
	h2c.SetHTTP1(true)
	h2c.SetUnencryptedHTTP2(true)
	n := &node{}
	opts := connect.WithInterceptors(auth.NewInterceptor(auth.DefaultPolicy()))
	mux := http.NewServeMux()
	mux.Handle(procListNodes, connect.NewUnaryHandler(procListNodes, whoami(n), opts))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: auth.Middleware(mux), ConnContext: auth.LocalAdminConnContext, Protocols: &h2c, ReadHeaderTimeout: 30 * time.Second, ErrorLog: quietLog}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	_, err = call(t, &http.Client{Timeout: 60 * time.Second}, "http://"+ln.Addr().String(), procListNodes, connect.WithProtoJSON(), nil)
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("plain TCP: %v", err)
	}
}
