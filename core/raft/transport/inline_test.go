package transport_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/raft/transport"
)

// goid returns the calling goroutine's ID, read from its stack header
// ("goroutine 12 [running]:"); for tests that must tell who wrote.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	id, _ := strconv.ParseUint(string(b[:bytes.IndexByte(b, ' ')]), 10, 64)
	return id
}

// writerConn records which goroutines write to it and, when slow is set,
// sleeps up to slow before each write (a busy socket).
type writerConn struct {
	net.Conn
	slow    time.Duration
	mu      sync.Mutex
	writers map[uint64]int
}

func (c *writerConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.writers[goid()]++
	c.mu.Unlock()
	if c.slow > 0 {
		time.Sleep(rand.N(c.slow))
	}
	return c.Conn.Write(b)
}

func (c *writerConn) writesBy(id uint64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writers[id]
}

// recordingDial dials TCP and wraps each connection in a writerConn,
// passed on conns.
func recordingDial(slow time.Duration, conns chan<- *writerConn) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		wc := &writerConn{Conn: c, slow: slow, writers: map[uint64]int{}}
		select {
		case conns <- wc:
		default:
		}
		return wc, nil
	}
}

func heartbeat(seq uint64, size int) []*pb.Message {
	return []*pb.Message{{Type: pb.MsgHeartbeat.Enum(), From: proto.Uint64(2), To: proto.Uint64(1), Commit: proto.Uint64(seq), Context: make([]byte, size)}}
}

// A small message for a lane whose direct connection is up and idle is
// written by Send itself, on the caller's goroutine (the Raft loop): no
// hand-off to the sender goroutine (inline.go). Queuing every message for
// the sender, as before, fails it.
func TestSendWritesASmallMessageInline(t *testing.T) {
	p := newTestPKI(t)
	fn := &fakeNode{}
	ln := listen(t)
	serveTLS(t, ln, p, fn, true)
	conns := make(chan *writerConn, 4)
	tr := transport.New(directOptions(p.clientTLS(t, "manager"), recordingDial(0, conns)))
	tr.Start(&directRecorder{})
	tr.SetPeers(map[uint64]string{1: ln.Addr().String()})
	t.Cleanup(tr.Stop)
	tr.Send(heartbeat(1, 0)) // the sender dials and writes it
	within(t, "the first message", 30*time.Second, func() bool { return fn.count() >= 1 })
	wc := <-conns
	me := goid()
	for seq := uint64(2); seq <= 20; seq++ {
		tr.Send(heartbeat(seq, 100))
		time.Sleep(time.Millisecond) // leave the connection idle
	}
	within(t, "20 messages", 30*time.Second, func() bool { return fn.count() >= 20 })
	if n := wc.writesBy(me); n == 0 {
		t.Fatal("no message was written by Send's caller: every one waited for the sender goroutine")
	}
	if c := fn.commits(); !increasing(c) {
		t.Fatalf("messages out of order or twice: %v", c)
	}
}

// Send writes inline only when nothing queued on the lane is still
// unwritten: a message never overtakes an earlier one. Large messages
// (queued, never inline) between small ones, on a connection whose
// writes are slow, arrive in order. Writing inline whenever the sender is
// not writing at that instant fails it.
func TestInlineWritesKeepTheOrder(t *testing.T) {
	p := newTestPKI(t)
	fn := &fakeNode{}
	ln := listen(t)
	serveTLS(t, ln, p, fn, true)
	conns := make(chan *writerConn, 4)
	tr := transport.New(directOptions(p.clientTLS(t, "manager"), recordingDial(2*time.Millisecond, conns)))
	tr.Start(&directRecorder{})
	tr.SetPeers(map[uint64]string{1: ln.Addr().String()})
	t.Cleanup(tr.Stop)
	tr.Send(heartbeat(1, 0))
	within(t, "the first message", 30*time.Second, func() bool { return fn.count() >= 1 })
	const n = 400
	for seq := uint64(2); seq <= n; seq++ {
		size := 10
		if seq%7 == 0 {
			size = 40 << 10 // over the inline limit: queued
		}
		tr.Send(heartbeat(seq, size))
		if seq%20 == 0 {
			time.Sleep(3 * time.Millisecond)
		}
	}
	within(t, "every message", 60*time.Second, func() bool { return fn.count() >= n })
	if c := fn.commits(); !increasing(c) {
		t.Fatalf("messages out of order or twice: %v", c)
	}
}
