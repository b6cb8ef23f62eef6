package transport_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/raft"
	"github.com/shoal-project/shoal/core/raft/transport"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
)

// testPKI is a CA and the key pairs a test's server and clients present;
// a client certificate's common name stands for its role.
type testPKI struct {
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	pool   *x509.CertPool
	server tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{ca: ca, caKey: key, pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.server = p.issue(t, "server", x509.ExtKeyUsageServerAuth)
	return p
}

func (p *testPKI) issue(t *testing.T, cn string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// clientTLS is what a member presenting a certificate for role uses.
func (p *testPKI) clientTLS(t *testing.T, role string) *tls.Config {
	return &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.issue(t, role, x509.ExtKeyUsageClientAuth)},
		MinVersion: tls.VersionTLS13, NextProtos: []string{"h2"}}
}

// managersOnly admits a direct connection whose client certificate names
// the manager role, as core/manager's authorizer does.
func managersOnly(cs tls.ConnectionState) error {
	if len(cs.VerifiedChains) == 0 || cs.PeerCertificates[0].Subject.CommonName != "manager" {
		return errors.New("not a manager")
	}
	return nil
}

// serveTLS serves node's Handler on ln with mutual TLS, HTTP/2 and, when
// direct is set, the direct path; it returns a count of the Connect
// requests served.
func serveTLS(t *testing.T, ln net.Listener, p *testPKI, node transport.Node, direct bool) *atomic.Int64 {
	t.Helper()
	h := transport.NewHandler(node, transport.HandlerOptions{})
	reqs := new(atomic.Int64)
	mux := http.NewServeMux()
	path, ch := shoalv1connect.NewRaftServiceHandler(h)
	mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		ch.ServeHTTP(w, r)
	}))
	var protos http.Protocols
	protos.SetHTTP2(true)
	conf := &tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}
	srv := &http.Server{Handler: mux, Protocols: &protos, HTTP2: transport.ServerHTTP2(), ReadHeaderTimeout: 10 * time.Second, TLSConfig: conf}
	if direct {
		srv.TLSConfig = transport.ServerTLS(conf)
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){transport.ProtoRaft: h.ServeTLSNextProto(managersOnly)}
		srv.RegisterOnShutdown(h.CloseConns)
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		_ = srv.Shutdown(context.Background())
		h.CloseConns()
	})
	return reqs
}

// directOptions are a sender's Options for the direct path with conf
// (dial: nil, or how to open the TCP connection), Connect over HTTPS as
// the fallback.
func directOptions(conf *tls.Config, dial func(context.Context, string, string) (net.Conn, error)) transport.Options {
	hc := transport.NewHTTPClient(conf)
	if dial != nil {
		hc.Transport.(*http.Transport).DialContext = dial
	}
	return transport.Options{
		Client: func(addr string) shoalv1connect.RaftServiceClient {
			return shoalv1connect.NewRaftServiceClient(hc, "https://"+addr)
		},
		Dial: transport.TLSDialer(conf, dial),
	}
}

// directRecorder is a raft.Reporter and RemovalReporter.
type directRecorder struct {
	recorder
	removed  atomic.Int64
	snapOK   atomic.Int64
	snapFail atomic.Int64
}

func (r *directRecorder) ReportRemoved() { r.removed.Add(1) }
func (r *directRecorder) ReportSnapshot(_ uint64, failed bool) {
	if failed {
		r.snapFail.Add(1)
	} else {
		r.snapOK.Add(1)
	}
}

// heartbeats starts a Transport from member 2 to member 1 at addr that
// queues a heartbeat numbered 1, 2, ... every 50 ms.
func heartbeats(t *testing.T, addr string, opts transport.Options) (*transport.Transport, *directRecorder) {
	t.Helper()
	rec := &directRecorder{}
	tr := transport.New(opts)
	sendHeartbeats(t, tr, rec, addr)
	return tr, rec
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func TestDirectPathCarriesMessagesInOrder(t *testing.T) {
	p := newTestPKI(t)
	fn := &fakeNode{}
	ln := listen(t)
	reqs := serveTLS(t, ln, p, fn, true)
	heartbeats(t, ln.Addr().String(), directOptions(p.clientTLS(t, "manager"), nil))
	within(t, "20 messages", 30*time.Second, func() bool { return fn.count() >= 20 })
	if c := fn.commits(); !increasing(c) {
		t.Fatalf("messages out of order or twice: %v", c)
	}
	if n := reqs.Load(); n != 0 {
		t.Fatalf("%d Connect requests: the messages did not take the direct path", n)
	}
}

func TestDirectPathRefusesNonManagerCertificate(t *testing.T) {
	p := newTestPKI(t)
	fn := &fakeNode{}
	ln := listen(t)
	serveTLS(t, ln, p, fn, true)
	_, rec := heartbeats(t, ln.Addr().String(), directOptions(p.clientTLS(t, "worker"), nil))
	within(t, "unreachable reports", 30*time.Second, func() bool { return rec.count() >= 3 })
	if n := fn.count(); n != 0 {
		t.Fatalf("a worker's certificate delivered %d raft messages on the direct path", n)
	}
}

func TestDirectPathFallsBackToConnectForAnOlderPeer(t *testing.T) {
	p := newTestPKI(t)
	fn := &fakeNode{}
	ln := listen(t)
	reqs := serveTLS(t, ln, p, fn, false) // a manager from before the direct path
	heartbeats(t, ln.Addr().String(), directOptions(p.clientTLS(t, "manager"), nil))
	within(t, "20 messages", 30*time.Second, func() bool { return fn.count() >= 20 })
	if reqs.Load() == 0 {
		t.Fatal("no Connect request: the messages did not fall back to the Connect stream")
	}
	if c := fn.commits(); !increasing(c) {
		t.Fatalf("messages out of order or twice: %v", c)
	}
}

// removedNode refuses every message as from a removed member.
type removedNode struct{ fakeNode }

func (*removedNode) Step(context.Context, *pb.Message) error {
	return fmt.Errorf("%w: 2", raft.ErrRemovedMember)
}

func TestDirectPathTellsARemovedMember(t *testing.T) {
	p := newTestPKI(t)
	ln := listen(t)
	reqs := serveTLS(t, ln, p, &removedNode{}, true)
	_, rec := heartbeats(t, ln.Addr().String(), directOptions(p.clientTLS(t, "manager"), nil))
	within(t, "ReportRemoved", 30*time.Second, func() bool { return rec.removed.Load() > 0 })
	if n := reqs.Load(); n != 0 {
		t.Fatalf("%d Connect requests: the refusal did not come on the direct path", n)
	}
}

func TestDirectPathSendsSnapshotsOnTheConnectStream(t *testing.T) {
	p := newTestPKI(t)
	fn := &fakeNode{}
	ln := listen(t)
	reqs := serveTLS(t, ln, p, fn, true)
	tr, rec := heartbeats(t, ln.Addr().String(), directOptions(p.clientTLS(t, "manager"), nil))
	within(t, "first message", 30*time.Second, func() bool { return fn.count() > 0 })
	snap := &pb.Message{Type: pb.MsgSnap.Enum(), From: proto.Uint64(2), To: proto.Uint64(1),
		Snapshot: &pb.Snapshot{Data: make([]byte, 3<<20), Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(7), Term: proto.Uint64(1)}}}
	tr.Send([]*pb.Message{snap})
	within(t, "the snapshot reported delivered", 30*time.Second, func() bool { return rec.snapOK.Load() == 1 })
	if reqs.Load() == 0 {
		t.Fatal("the snapshot did not go on the Connect stream")
	}
	var got bool
	fn.mu.Lock()
	for _, m := range fn.steps {
		got = got || (m.GetType() == pb.MsgSnap && len(m.GetSnapshot().GetData()) == 3<<20)
	}
	fn.mu.Unlock()
	if !got || rec.snapFail.Load() != 0 {
		t.Fatalf("snapshot stepped %v, failures reported %d", got, rec.snapFail.Load())
	}
}

func TestDirectSenderRecoversFromConnectionsThatDropEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30 s partition")
	}
	p := newTestPKI(t)
	fn := &fakeNode{}
	ln := listen(t)
	reqs := serveTLS(t, ln, p, fn, true)
	b := newBlackhole(t, ln.Addr().String())
	_, rec := heartbeats(t, b.addr(), directOptions(p.clientTLS(t, "manager"), nil))
	partitionAndHeal(t, fn, &rec.recorder, b.setCut, func() {
		if dead, closed := b.deadWithServer(); dead == 0 || closed != dead {
			t.Errorf("server closed %d of %d black-holed connections", closed, dead)
		}
	})
	if n := reqs.Load(); n != 0 {
		t.Fatalf("%d Connect requests: the test did not exercise the direct path", n)
	}
}

func TestDirectSenderRecoversFromKernelPacketDrop(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30 s partition")
	}
	link, ln := newDropLink(t)
	p := newTestPKI(t)
	fn := &fakeNode{}
	reqs := serveTLS(t, ln, p, fn, true)
	_, rec := heartbeats(t, ln.Addr().String(), directOptions(p.clientTLS(t, "manager"), link.dialer(nil)))
	partitionAndHeal(t, fn, &rec.recorder, func(cut bool) { link.setCut(t, cut) }, func() {})
	if n := reqs.Load(); n != 0 {
		t.Fatalf("%d Connect requests: the test did not exercise the direct path", n)
	}
}
