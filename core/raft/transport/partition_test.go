package transport_test

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/raft"
	"github.com/shoal-project/shoal/core/raft/transport"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/internal/clock/clocktest"
)

const (
	// partitionFor is longer than TCP's retransmission backoff gets
	// meaningful: a connection that saw its packets dropped for this long
	// next retransmits tens of seconds after the network is back.
	partitionFor = 30 * time.Second
	// noticeWithin bounds the first ReportUnreachable after the cut
	// (nominally DefaultPingAfter+DefaultPingTimeout, 1.5 s).
	noticeWithin = 5 * time.Second
	// healWithin bounds the first delivery after the heal.
	healWithin = 2 * time.Second
)

// recorder is a raft.Reporter that keeps the time of each ReportUnreachable.
type recorder struct {
	mu          sync.Mutex
	unreachable []time.Time
}

func (r *recorder) ReportUnreachable(uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unreachable = append(r.unreachable, time.Now())
}

func (r *recorder) ReportSnapshot(uint64, bool) {}

func (r *recorder) reportedSince(t0 time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.unreachable) > 0 && r.unreachable[len(r.unreachable)-1].After(t0)
}

func (f *fakeNode) commits() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]uint64, 0, len(f.steps))
	for _, m := range f.steps {
		out = append(out, m.GetCommit())
	}
	return out
}

// serveRaft serves a Handler over fn on ln as a manager does: HTTP/2 with
// the receive side's health checks.
func serveRaft(t *testing.T, ln net.Listener, fn *fakeNode) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(shoalv1connect.NewRaftServiceHandler(transport.NewHandler(fn, transport.HandlerOptions{})))
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: mux, Protocols: &p, HTTP2: transport.ServerHTTP2(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// startSender starts a Transport from member 2 to member 1 at addr that
// queues a heartbeat numbered 1, 2, ... (in Commit) every 50 ms, as a
// leader's raft would.
func startSender(t *testing.T, addr string, hc *http.Client) *recorder {
	t.Helper()
	rec := &recorder{}
	tr := transport.New(transport.Options{Client: func(addr string) shoalv1connect.RaftServiceClient {
		return shoalv1connect.NewRaftServiceClient(hc, "http://"+addr)
	}})
	t.Cleanup(hc.CloseIdleConnections) // after the sender stops (cleanups run last first)
	sendHeartbeats(t, tr, rec, addr)
	return rec
}

// sendHeartbeats starts tr (reporting to rec) towards member 1 at addr
// and queues a heartbeat from member 2 numbered 1, 2, ... (in Commit)
// every 50 ms until the test ends, then stops tr.
func sendHeartbeats(t *testing.T, tr *transport.Transport, rec raft.Reporter, addr string) {
	t.Helper()
	tr.Start(rec)
	tr.SetPeers(map[uint64]string{1: addr})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for seq := uint64(1); ; seq++ {
			tr.Send([]*pb.Message{{Type: pb.MsgHeartbeat.Enum(), From: proto.Uint64(2), To: proto.Uint64(1), Commit: proto.Uint64(seq)}})
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		tr.Stop()
	})
}

// within polls f until it holds and returns how long that took; it fails
// the test after limit.
func within(t *testing.T, what string, limit time.Duration, f func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !f() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// partitionAndHeal cuts a flowing link for partitionFor, checks the sender
// noticed and nothing got through, runs beforeHeal, heals, and checks that
// messages flow again within healWithin and arrived in the order sent.
func partitionAndHeal(t *testing.T, fn *fakeNode, rec *recorder, setCut func(bool), beforeHeal func()) {
	within(t, "first delivery", 30*time.Second, func() bool { return fn.count() > 0 })
	cutAt := time.Now()
	setCut(true)
	noticed := within(t, "unreachable report after the cut", noticeWithin, func() bool { return rec.reportedSince(cutAt) })
	time.Sleep(time.Second) // what was on the wire at the cut lands
	stuck := fn.count()
	time.Sleep(time.Until(cutAt.Add(partitionFor)))
	if got := fn.count(); got != stuck {
		t.Fatalf("%d messages arrived during the cut: the partition is not real", got-stuck)
	}
	if !rec.reportedSince(time.Now().Add(-5 * time.Second)) {
		t.Fatal("the sender stopped trying during the cut")
	}
	beforeHeal()
	setCut(false)
	healed := within(t, "delivery after the heal", healWithin, func() bool { return fn.count() > stuck })
	if c := fn.commits(); !increasing(c) {
		t.Fatalf("messages out of order or twice: %v", c)
	}
	t.Logf("cut %v: unreachable reported after %v; heal to first delivery %v", partitionFor, noticed.Round(time.Millisecond), healed.Round(time.Millisecond))
}

func increasing(c []uint64) bool {
	for i := 1; i < len(c); i++ {
		if c[i] <= c[i-1] {
			return false
		}
	}
	return true
}

func TestSenderRecoversFromConnectionsThatDropEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30 s partition")
	}
	fn := &fakeNode{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveRaft(t, ln, fn)
	b := newBlackhole(t, ln.Addr().String())
	rec := startSender(t, b.addr(), transport.NewHTTPClient(nil))
	partitionAndHeal(t, fn, rec, b.setCut, func() {
		// The receive side gave up on the dead connections by itself.
		if dead, closed := b.deadWithServer(); dead == 0 || closed != dead {
			t.Errorf("server closed %d of %d black-holed connections", closed, dead)
		}
	})
}

func TestSenderRecoversFromKernelPacketDrop(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30 s partition")
	}
	link, ln := newDropLink(t)
	fn := &fakeNode{}
	serveRaft(t, ln, fn)
	hc := transport.NewHTTPClient(nil)
	tr := hc.Transport.(*http.Transport)
	tr.DialContext = link.dialer(tr.DialContext)
	rec := startSender(t, ln.Addr().String(), hc)
	partitionAndHeal(t, fn, rec, func(cut bool) { link.setCut(t, cut) }, func() {})
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.unreachable)
}

func TestFailedSendsBackOffUpToMaxRetryDelay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	_ = ln.Close()
	clk := clocktest.NewManual()
	rec := &recorder{}
	hc := transport.NewHTTPClient(nil)
	tr := transport.New(transport.Options{Clock: clk, Client: func(addr string) shoalv1connect.RaftServiceClient {
		return shoalv1connect.NewRaftServiceClient(hc, "http://"+addr)
	}})
	tr.Start(rec)
	tr.SetPeers(map[uint64]string{1: refused})
	t.Cleanup(tr.Stop)
	for seq := range uint64(10) {
		tr.Send([]*pb.Message{{Type: pb.MsgHeartbeat.Enum(), From: proto.Uint64(2), To: proto.Uint64(1), Commit: proto.Uint64(seq)}})
	}
	for i, wait := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		wait *= time.Millisecond
		within(t, "the sender waiting to retry", 30*time.Second, func() bool { return clk.Pending() == 1 })
		failed := rec.count()
		clk.Advance(wait - time.Millisecond)
		if clk.Pending() != 1 {
			t.Fatalf("retry %d came before %v", i+1, wait)
		}
		clk.Advance(time.Millisecond)
		within(t, "a retry", 30*time.Second, func() bool { return rec.count() > failed })
	}
}
