package manager

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
)

// behaviour is how a fake leader answers.
type behaviour int

const (
	answers     behaviour = iota
	hangs                 // until the caller gives up: a leader cut off mid-call
	unavailable           // a manager that is no longer the leader
)

// fakeLeader is a ControlService that answers ListNodes and UpdateNode with
// one node named after itself.
type fakeLeader struct {
	shoalv1connect.UnimplementedControlServiceHandler
	name    string
	behave  behaviour
	calls   atomic.Int32
	called  chan struct{}
	aborted chan struct{} // a hanging call's context ended
	srv     *httptest.Server
}

func startFakeLeader(t *testing.T, name string, b behaviour) *fakeLeader {
	t.Helper()
	l := &fakeLeader{name: name, behave: b, called: make(chan struct{}, 16), aborted: make(chan struct{}, 16)}
	mux := http.NewServeMux()
	mux.Handle(shoalv1connect.NewControlServiceHandler(l))
	l.srv = httptest.NewUnstartedServer(mux)
	l.srv.EnableHTTP2 = true
	l.srv.StartTLS()
	t.Cleanup(l.srv.Close)
	return l
}

func (l *fakeLeader) view(id uint64) leaderView {
	return leaderView{id: id, addr: l.srv.Listener.Addr().String()}
}

func (l *fakeLeader) answer(ctx context.Context) ([]*shoalv1.Node, error) {
	l.calls.Add(1)
	l.called <- struct{}{}
	switch l.behave {
	case hangs:
		<-ctx.Done()
		l.aborted <- struct{}{}
		return nil, ctx.Err()
	case unavailable:
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("not the leader"))
	}
	return []*shoalv1.Node{{Id: l.name}}, nil
}

func (l *fakeLeader) ListNodes(ctx context.Context, _ *connect.Request[shoalv1.ListNodesRequest]) (*connect.Response[shoalv1.ListNodesResponse], error) {
	nodes, err := l.answer(ctx)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&shoalv1.ListNodesResponse{Nodes: nodes}), nil
}

func (l *fakeLeader) UpdateNode(ctx context.Context, _ *connect.Request[shoalv1.UpdateNodeRequest]) (*connect.Response[shoalv1.UpdateNodeResponse], error) {
	nodes, err := l.answer(ctx)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&shoalv1.UpdateNodeResponse{Node: nodes[0]}), nil
}

// follower is a forwarder in front of a handler that must never be reached,
// with a gRPC client calling through it.
type follower struct {
	leaders *leaderWatch
	client  shoalv1connect.ControlServiceClient
}

func testForwardOptions() forwardOptions {
	o := defaultForwardOptions()
	o.budget = 3 * time.Second
	o.retryDelay = 20 * time.Millisecond
	return o
}

func startFollower(t *testing.T, leaderTLS *tls.Config, opts forwardOptions) *follower {
	t.Helper()
	w := newLeaderWatch()
	fw := newForwarder(w, "follower-1", []string{"/" + shoalv1connect.ControlServiceName + "/"},
		func() *tls.Config { return leaderTLS }, slog.New(slog.DiscardHandler), opts)
	local := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Errorf("the follower answered a call it should have forwarded")
		http.Error(w, "not forwarded", http.StatusInternalServerError)
	})
	srv := httptest.NewUnstartedServer(fw.wrap(local))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &follower{leaders: w, client: shoalv1connect.NewControlServiceClient(srv.Client(), srv.URL, connect.WithGRPC())}
}

// tlsFor is a client config that trusts httptest's certificate.
func tlsFor(l *fakeLeader) *tls.Config {
	return l.srv.Client().Transport.(*http.Transport).TLSClientConfig
}

type callResult struct {
	who string
	err error
	at  time.Time
}

// callAsync runs a read (ListNodes) or a write (UpdateNode) through f.
func (f *follower) callAsync(write bool) <-chan callResult {
	ch := make(chan callResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var r callResult
		if write {
			res, err := f.client.UpdateNode(ctx, connect.NewRequest(&shoalv1.UpdateNodeRequest{Node: "n1"}))
			r.err = err
			if err == nil {
				r.who = res.Msg.GetNode().GetId()
			}
		} else {
			res, err := f.client.ListNodes(ctx, connect.NewRequest(&shoalv1.ListNodesRequest{}))
			r.err = err
			if err == nil {
				r.who = res.Msg.GetNodes()[0].GetId()
			}
		}
		r.at = time.Now()
		ch <- r
	}()
	return ch
}

func waitFor[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s: nothing within %s", what, d)
		var zero T
		return zero
	}
}

// The leader is cut off while a call through a follower waits on it; the
// follower then learns of a new leader.
func TestForwardedCallInFlightWhenTheLeaderChanges(t *testing.T) {
	for _, tc := range []struct {
		name     string
		write    bool
		wantWho  string // "" when the call must fail
		wantCode connect.Code
		wantMsg  string
	}{
		{name: "read is retried against the new leader", wantWho: "new"},
		{name: "write in doubt is Unavailable, not applied twice", write: true, wantCode: connect.CodeUnavailable, wantMsg: "outcome is unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := startFakeLeader(t, "old", hangs)
			next := startFakeLeader(t, "new", answers)
			f := startFollower(t, tlsFor(old), testForwardOptions())
			f.leaders.set(old.view(1))

			res := f.callAsync(tc.write)
			waitFor(t, old.called, 10*time.Second, "the call reaches the old leader")
			f.leaders.set(leaderView{}) // the follower loses the leader...
			time.Sleep(50 * time.Millisecond)
			changed := time.Now()
			f.leaders.set(next.view(2)) // ...and learns of the new one
			r := waitFor(t, res, 10*time.Second, "the call returns")
			waitFor(t, old.aborted, 10*time.Second, "the call to the old leader is cancelled")
			t.Logf("returned %s after the new leader was known: %v %v", r.at.Sub(changed).Round(time.Millisecond), r.who, r.err)
			if tc.wantWho != "" {
				if r.err != nil || r.who != tc.wantWho {
					t.Fatalf("answer from %q, err %v; want an answer from %q", r.who, r.err, tc.wantWho)
				}
				return
			}
			if connect.CodeOf(r.err) != tc.wantCode || !strings.Contains(r.err.Error(), tc.wantMsg) {
				t.Fatalf("err %v; want %v containing %q", r.err, tc.wantCode, tc.wantMsg)
			}
			if n := next.calls.Load(); n != 0 {
				t.Fatalf("the new leader received the write in doubt %d times", n)
			}
		})
	}
}

func TestForwardedReadLeavesALeaderThatAnswersUnavailable(t *testing.T) {
	old := startFakeLeader(t, "old", unavailable)
	next := startFakeLeader(t, "new", answers)
	f := startFollower(t, tlsFor(old), testForwardOptions())
	f.leaders.set(old.view(1))
	res := f.callAsync(false)
	waitFor(t, old.called, 10*time.Second, "the read reaches the old leader")
	f.leaders.set(next.view(2))
	if r := waitFor(t, res, 10*time.Second, "the read returns"); r.err != nil || r.who != "new" {
		t.Fatalf("answer from %q, err %v; want the new leader's", r.who, r.err)
	}
}

func TestForwardedCallWaitsForALeader(t *testing.T) {
	next := startFakeLeader(t, "new", answers)
	f := startFollower(t, tlsFor(next), testForwardOptions())
	for _, write := range []bool{false, true} {
		f.leaders.set(leaderView{})
		res := f.callAsync(write)
		time.Sleep(200 * time.Millisecond)
		f.leaders.set(next.view(2))
		if r := waitFor(t, res, 10*time.Second, "the call returns"); r.err != nil || r.who != "new" {
			t.Fatalf("write=%v: answer from %q, err %v; want the new leader's", write, r.who, r.err)
		}
	}
}

func TestForwardWithoutALeaderGivesUpWithinItsBudget(t *testing.T) {
	next := startFakeLeader(t, "unused", answers)
	opts := testForwardOptions()
	opts.budget = 500 * time.Millisecond
	f := startFollower(t, tlsFor(next), opts)
	start := time.Now()
	r := waitFor(t, f.callAsync(false), 10*time.Second, "the read returns")
	if connect.CodeOf(r.err) != connect.CodeUnavailable || !strings.Contains(r.err.Error(), "knows no leader") {
		t.Fatalf("err %v; want Unavailable saying no leader is known", r.err)
	}
	t.Logf("gave up after %s", time.Since(start).Round(time.Millisecond))
}

// A write that never left this manager (the old leader's address refuses
// connections) is safe to send to the next leader.
func TestForwardedWriteThatWasNotSentIsRetried(t *testing.T) {
	dead := refusingAddr(t)
	next := startFakeLeader(t, "new", answers)
	f := startFollower(t, tlsFor(next), testForwardOptions())
	f.leaders.set(leaderView{id: 1, addr: dead})
	res := f.callAsync(true)
	time.Sleep(200 * time.Millisecond)
	f.leaders.set(next.view(2))
	if r := waitFor(t, res, 10*time.Second, "the write returns"); r.err != nil || r.who != "new" {
		t.Fatalf("answer from %q, err %v; want the new leader's", r.who, r.err)
	}
	if n := next.calls.Load(); n != 1 {
		t.Fatalf("the new leader received the write %d times, want 1", n)
	}
}

// blackHole is a TCP proxy that, once cut, keeps every connection open but
// forwards nothing (a peer behind a DROP rule), and accepts new connections
// without forwarding them.
type blackHole struct {
	ln  net.Listener
	to  string
	cut atomic.Bool
}

func startBlackHole(t *testing.T, to string) *blackHole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackHole{ln: ln, to: to}
	t.Cleanup(func() { ln.Close() })
	go b.serve()
	return b
}

func (b *blackHole) serve() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		go b.pipe(c)
	}
}

func (b *blackHole) pipe(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", b.to)
	if err != nil {
		return
	}
	defer up.Close()
	go b.copy(up, c)
	b.copy(c, up)
}

// copy forwards src to dst while the link is up and swallows what src
// sends while it is cut.
func (b *blackHole) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			dst.Close()
			return
		}
		if b.cut.Load() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// A pooled connection to the leader goes silent (no leader change): the
// health check drops it and the read is answered on a new connection once
// the link is back.
func TestForwardedReadOnADeadConnectionIsAnsweredAfterTheLinkHeals(t *testing.T) {
	leader := startFakeLeader(t, "leader", answers)
	hole := startBlackHole(t, leader.srv.Listener.Addr().String())
	opts := testForwardOptions()
	opts.pingAfter, opts.pingTimeout, opts.dialTimeout = 200*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
	opts.budget = 20 * time.Second
	f := startFollower(t, tlsFor(leader), opts)
	f.leaders.set(leaderView{id: 1, addr: hole.ln.Addr().String()})
	if r := waitFor(t, f.callAsync(false), 10*time.Second, "a read before the cut"); r.err != nil {
		t.Fatalf("read before the cut: %v", r.err)
	}
	hole.cut.Store(true)
	res := f.callAsync(false)
	time.Sleep(time.Second)
	hole.cut.Store(false)
	healed := time.Now()
	r := waitFor(t, res, 15*time.Second, "the read returns")
	if r.err != nil || r.who != "leader" {
		t.Fatalf("answer from %q, err %v; want the leader's", r.who, r.err)
	}
	t.Logf("answered %s after the heal", r.at.Sub(healed).Round(time.Millisecond))
}

// A request too large to keep is sent once: never retried with a body the
// first attempt consumed.
func TestForwardedCallTooLargeToKeepIsSentOnce(t *testing.T) {
	dead := refusingAddr(t)
	old := startFakeLeader(t, "old", unavailable)
	opts := testForwardOptions()
	opts.maxBufferedBody = 1
	for _, tc := range []struct {
		name    string
		leader  leaderView
		write   bool
		wantMsg string
	}{
		{name: "read answered Unavailable", leader: old.view(1), wantMsg: "not the leader"},
		{name: "write to an address that refuses", leader: leaderView{id: 1, addr: dead}, write: true, wantMsg: "cannot reach the leader at " + dead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFollower(t, tlsFor(old), opts)
			f.leaders.set(tc.leader)
			r := waitFor(t, f.callAsync(tc.write), 10*time.Second, "the call returns")
			if connect.CodeOf(r.err) != connect.CodeUnavailable || !strings.Contains(r.err.Error(), tc.wantMsg) {
				t.Fatalf("err %v; want Unavailable containing %q", r.err, tc.wantMsg)
			}
		})
	}
	if n := old.calls.Load(); n != 1 {
		t.Fatalf("the leader received the read %d times, want 1", n)
	}
}

// refusingAddr is a loopback address where nothing listens.
func refusingAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
