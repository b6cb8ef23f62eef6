package transport_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/shoal-project/shoal/core/raft"
	"github.com/shoal-project/shoal/core/raft/rafttest"
	"github.com/shoal-project/shoal/core/raft/transport"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
)

type ctxKey struct{}

const nodeHeader = "X-Test-Node-Id"

// identity stands in for the mTLS layer: it moves a header into the context.
func identity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, r.Header.Get(nodeHeader))))
	})
}

func nodeIDFromCtx(ctx context.Context) (string, error) {
	id, _ := ctx.Value(ctxKey{}).(string)
	if id == "" {
		return "", errors.New("no identity")
	}
	return id, nil
}

type server struct {
	ln   net.Listener
	srv  *http.Server
	node *raft.Node
	kv   *rafttest.KV
	// refused counts the messages this server refused as from a removed
	// member.
	refused *atomic.Int64
}

// countingNode counts the messages its node refuses as from a removed member.
type countingNode struct {
	*raft.Node
	refused *atomic.Int64
}

func (c countingNode) Step(ctx context.Context, m *pb.Message) error {
	err := c.Node.Step(ctx, m)
	if errors.Is(err, raft.ErrRemovedMember) {
		c.refused.Add(1)
	}
	return err
}

func clientFor(nodeID string) transport.ClientFunc {
	hc := transport.NewHTTPClient(nil)
	return func(addr string) shoalv1connect.RaftServiceClient {
		return shoalv1connect.NewRaftServiceClient(hc, "http://"+addr, connect.WithGRPC(), connect.WithInterceptors(headerInterceptor(nodeID)))
	}
}

func headerInterceptor(nodeID string) connect.Interceptor {
	return &hdr{nodeID}
}

type hdr struct{ id string }

func (h *hdr) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set(nodeHeader, h.id)
		return next(ctx, req)
	}
}

func (h *hdr) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		c := next(ctx, spec)
		c.RequestHeader().Set(nodeHeader, h.id)
		return c
	}
}

func (h *hdr) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

const chunk = 8 << 10

func startServer(t *testing.T, dir, nodeID string, join func(addr string) (uint64, []raft.Member)) *server {
	t.Helper()
	return startServerAt(t, dir, nodeID, "127.0.0.1:0", func(cfg raft.Config) (*raft.Node, error) {
		if join == nil {
			return raft.Bootstrap(cfg)
		}
		id, members := join(cfg.Addr)
		return raft.Join(cfg, id, members, nil)
	})
}

// startServerAt serves the member open starts (Bootstrap, Join or Restart)
// on listen.
func startServerAt(t *testing.T, dir, nodeID, listen string, open func(raft.Config) (*raft.Node, error)) *server {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	kv := rafttest.NewKV()
	// The default 100 ms tick: at 20 ms (200 ms election timeouts) a loaded
	// 2-core machine made leaders change mid-test.
	cfg := raft.Config{
		NodeID:           nodeID,
		Addr:             addr,
		DataDir:          filepath.Join(dir, nodeID),
		StateMachine:     kv,
		Transport:        transport.New(transport.Options{Client: clientFor(nodeID), ChunkSize: chunk}),
		SnapshotInterval: 20,
		TrailingEntries:  5,
		Logger:           slog.New(slog.DiscardHandler),
	}
	n, err := open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	refused := new(atomic.Int64)
	path, h := shoalv1connect.NewRaftServiceHandler(transport.NewHandler(countingNode{n, refused}, transport.HandlerOptions{NodeID: nodeIDFromCtx}))
	mux.Handle(path, identity(h))
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	p.SetHTTP1(true)
	srv := &http.Server{Handler: mux, Protocols: &p, HTTP2: transport.ServerHTTP2(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	s := &server{ln: ln, srv: srv, node: n, kv: kv, refused: refused}
	t.Cleanup(func() {
		_ = s.node.Stop()
		_ = s.srv.Close()
	})
	return s
}

// joinVia joins nodeID to the group through s's Join.
func joinVia(t *testing.T, s *server, nodeID string) func(addr string) (uint64, []raft.Member) {
	return func(addr string) (uint64, []raft.Member) {
		c := clientFor(nodeID)(s.ln.Addr().String())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		id, members, err := transport.JoinCluster(ctx, c, addr)
		if err != nil {
			t.Fatalf("join %s: %v", nodeID, err)
		}
		return id, members
	}
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConnectThreeNodesChunkedSnapshot(t *testing.T) {
	dir := t.TempDir()
	s1 := startServer(t, dir, "m1", nil)
	waitFor(t, "m1 leader", s1.node.IsLeader)
	s2 := startServer(t, dir, "m2", joinVia(t, s1, "m2"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	big := strings.Repeat("s", 4<<10)
	for i := range 50 {
		if err := s1.node.Propose(ctx, rafttest.Set(fmt.Sprintf("k%d", i), big)); err != nil {
			t.Fatalf("propose %d: %v", i, err)
		}
	}
	if st := s1.node.Status(); st.SnapshotIndex < 20 {
		t.Fatalf("no snapshot yet: %+v", st)
	}
	// m3 joins after compaction: it gets a ~200 KiB snapshot in 8 KiB chunks.
	s3 := startServer(t, dir, "m3", joinVia(t, s1, "m3"))
	waitFor(t, "m3 catch-up", func() bool {
		return s3.node.Status().Applied == s1.node.Status().Applied && maps.Equal(s3.kv.Data(), s1.kv.Data())
	})
	waitFor(t, "m2 catch-up", func() bool { return maps.Equal(s2.kv.Data(), s1.kv.Data()) })
	if st := s3.node.Status(); st.SnapshotIndex < 20 {
		t.Fatalf("m3 did not start from a snapshot: %+v", st)
	}
	if got := len(s3.node.Members()); got != 3 {
		t.Fatalf("m3 knows %d members", got)
	}

	// A follower's Join answers FailedPrecondition with the leader's address.
	fc := clientFor("m4")(s2.ln.Addr().String())
	_, _, err := transport.JoinCluster(ctx, fc, "127.0.0.1:1")
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || transport.LeaderFromError(err) != s1.ln.Addr().String() {
		t.Fatalf("join via follower: %v (leader %q)", err, transport.LeaderFromError(err))
	}
	// ResolveAddress.
	res, err := fc.ResolveAddress(ctx, connect.NewRequest(&shoalv1.ResolveAddressRequest{RaftId: s3.node.ID()}))
	if err != nil || res.Msg.GetAddr() != s3.ln.Addr().String() {
		t.Fatalf("resolve: %v %v", res, err)
	}
	// m2 may not remove m3; m3 may leave.
	lc := clientFor("m2")(s1.ln.Addr().String())
	_, err = lc.Leave(ctx, connect.NewRequest(&shoalv1.LeaveRequest{Member: &shoalv1.RaftMember{RaftId: s3.node.ID()}}))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("foreign leave: %v", err)
	}
	lc3 := clientFor("m3")(s1.ln.Addr().String())
	if _, err := lc3.Leave(ctx, connect.NewRequest(&shoalv1.LeaveRequest{Member: &shoalv1.RaftMember{RaftId: s3.node.ID()}})); err != nil {
		t.Fatalf("leave: %v", err)
	}
	select {
	case <-s3.node.Removed():
	case <-time.After(30 * time.Second):
		t.Fatal("m3 never learned of its removal")
	}
	if err := s1.node.Propose(ctx, rafttest.Set("after", "leave")); err != nil {
		t.Fatal(err)
	}
}
