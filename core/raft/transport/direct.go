package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/raft"
)

// The direct path (RATIONALE.md "A Raft hop with fewer hand-offs"). On the
// managers' TLS listener, a connection that negotiates ProtoRaft by ALPN
// is handed by net/http (Server.TLSNextProto) to Handler.ServeConn instead
// of HTTP/2: the sender goroutine writes length-prefixed marshalled
// raftpb.Messages straight into a buffered writer on the connection,
// flushing when its queue is empty, and one goroutine on the receiving end
// reads and steps them. Against the Connect stream this skips, per
// message, the request body pipe, the HTTP/2 writer goroutine, its framing
// and flow control, and on the receiving end the frame reader and serve
// loop hand-offs.
//
// Wire format, client to server: frames of a 4-byte big-endian length and
// that many bytes of a marshalled raftpb.Message; a zero length is a
// keep-alive. Server to client: nothing, unless the server refuses the
// connection or a message, when it writes one answer (a code byte, a
// 4-byte length, a reason) and closes the connection. MsgSnap is never sent
// this way: the sender needs the peer's answer to report the snapshot, so
// it keeps the chunked Connect stream.

// ProtoRaft is the ALPN protocol name of the direct path.
const ProtoRaft = "shoal-raft/1"

// ErrNoDirect is returned by a DialFunc when the peer did not negotiate
// ProtoRaft (a manager from before it, during a rolling upgrade): the
// sender falls back to the Connect stream.
var ErrNoDirect = errors.New("transport: peer does not speak " + ProtoRaft)

// ErrRefused is what a sender's direct connection ends with when the peer
// refused it or one of its messages; the peer's reason follows.
var ErrRefused = errors.New("transport: peer refused the raft connection")

// errPeerRemovedUs marks a refusal because this member was removed.
var errPeerRemovedUs = fmt.Errorf("%w: %w", ErrRefused, raft.ErrRemovedMember)

// DialFunc opens a connection to a peer speaking ProtoRaft, or fails with
// an error wrapping ErrNoDirect.
type DialFunc func(ctx context.Context, addr string) (net.Conn, error)

// Answer codes the server writes before it closes a direct connection.
const (
	answerPong    byte = 0
	answerRefused byte = 1
	answerRemoved byte = 2
)

const (
	// directBuffer is the size of the buffered reader and writer of a
	// direct connection.
	directBuffer = 64 << 10
	// directReadIdle is how long a receiving end waits for a frame (the
	// sender pings every DefaultPingAfter at least) before it drops the
	// connection of a peer that vanished, as ServerHTTP2 does.
	directReadIdle = ServerPingAfter + ServerPingTimeout
	// fallbackRecheck is how long a lane whose peer did not negotiate
	// ProtoRaft uses the Connect stream before it tries the direct path
	// again (the peer may have been upgraded).
	fallbackRecheck = time.Minute
	// directHandshakeTimeout bounds a direct connection's TLS handshake:
	// a connection a partition holds open is given up as soon as an
	// unanswered ping would be.
	directHandshakeTimeout = DefaultPingTimeout
	// maxAnswer bounds the reason text of an answer.
	maxAnswer = 4 << 10
)

// TLSDialer returns a DialFunc that dials addr (with dial; nil is a
// net.Dialer; the dial is bounded by DefaultDialTimeout) and shakes hands
// with TLS (conf, offering ProtoRaft then HTTP/2, so an older peer
// completes the handshake and is recognised) within a second.
func TLSDialer(conf *tls.Config, dial func(ctx context.Context, network, addr string) (net.Conn, error)) DialFunc {
	conf = conf.Clone()
	conf.NextProtos = []string{ProtoRaft, "h2"}
	if dial == nil {
		dial = (&net.Dialer{Timeout: DefaultDialTimeout}).DialContext
	}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		dctx, cancel := context.WithTimeout(ctx, DefaultDialTimeout)
		raw, err := dial(dctx, "tcp", addr)
		cancel()
		if err != nil {
			return nil, err
		}
		ctx, cancel = context.WithTimeout(ctx, directHandshakeTimeout)
		defer cancel()
		cc := conf
		if cc.ServerName == "" { // as net/http does: the dialed host is checked
			host, _, _ := net.SplitHostPort(addr)
			cc = conf.Clone()
			cc.ServerName = host
		}
		c := tls.Client(raw, cc)
		if err := c.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, err
		}
		if c.ConnectionState().NegotiatedProtocol != ProtoRaft {
			_ = c.Close()
			return nil, fmt.Errorf("%w (%s)", ErrNoDirect, addr)
		}
		return c, nil
	}
}

// ServerTLS returns conf set to offer ProtoRaft first by ALPN (also in the
// configs its GetConfigForClient returns). Serve it with an http.Server
// whose TLSNextProto maps ProtoRaft to Handler.ServeTLSNextProto.
func ServerTLS(conf *tls.Config) *tls.Config {
	conf = conf.Clone()
	conf.NextProtos = withRaftProto(conf.NextProtos)
	if inner := conf.GetConfigForClient; inner != nil {
		conf.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			c, err := inner(hello)
			if c == nil || err != nil {
				return c, err
			}
			c = c.Clone()
			c.NextProtos = withRaftProto(c.NextProtos)
			return c, nil
		}
	}
	return conf
}

func withRaftProto(protos []string) []string {
	if slices.Contains(protos, ProtoRaft) {
		return protos
	}
	return append([]string{ProtoRaft}, protos...)
}

// ConnAuthorizer decides whether the peer of a direct connection may send
// Raft messages (as the Connect handler's interceptors decide for the
// RaftService): nil admits it.
type ConnAuthorizer func(tls.ConnectionState) error

// ServeTLSNextProto returns the http.Server TLSNextProto function for
// ProtoRaft: it authorizes the connection with authorize and serves it.
func (h *Handler) ServeTLSNextProto(authorize ConnAuthorizer) func(*http.Server, *tls.Conn, http.Handler) {
	return func(_ *http.Server, c *tls.Conn, _ http.Handler) {
		var refuse error
		if authorize != nil {
			refuse = authorize(c.ConnectionState())
		}
		h.ServeConn(c, refuse)
	}
}

// ServeConn reads and steps the frames a peer's sender writes on c until c
// fails, a frame is invalid or a step fails, then closes c, first writing
// the reason to the peer when it is one the peer should learn (refuse
// non-nil refuses the connection outright). CloseConns ends every
// connection being served.
func (h *Handler) ServeConn(c net.Conn, refuse error) {
	defer func() { _ = c.Close() }()
	if refuse != nil {
		h.log.Warn("transport: refused a direct raft connection", "remote", c.RemoteAddr().String(), "err", refuse)
		writeAnswer(c, refuse)
		return
	}
	if !h.track(c, true) {
		return
	}
	defer h.track(c, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := h.readFrames(ctx, c); err != nil && !isConnEnd(err) {
		h.log.Debug("transport: direct raft connection ended", "remote", c.RemoteAddr().String(), "err", err)
		writeAnswer(c, err)
	}
}

func (h *Handler) readFrames(ctx context.Context, c net.Conn) error {
	r := bufio.NewReaderSize(c, directBuffer)
	var hdr [4]byte
	for {
		if err := c.SetReadDeadline(time.Now().Add(directReadIdle)); err != nil {
			return err
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == pingFrame {
			if err := pong(c); err != nil {
				return err
			}
			continue
		}
		if int64(n) > int64(h.opts.MaxMessageSize) {
			return fmt.Errorf("%w: %d bytes, over %d", ErrMessageTooLarge, n, h.opts.MaxMessageSize)
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			return err
		}
		m := &pb.Message{}
		if err := proto.Unmarshal(data, m); err != nil {
			return fmt.Errorf("transport: bad raft message: %w", err)
		}
		if err := h.node.Step(ctx, m); err != nil {
			return err
		}
	}
}

// isConnEnd reports whether err is the connection ending (closed, timed
// out, cut), which is not answered.
func isConnEnd(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// track adds (or removes) c from the connections CloseConns ends; it
// reports false when the Handler is closed.
func (h *Handler) track(c net.Conn, add bool) bool {
	h.connMu.Lock()
	defer h.connMu.Unlock()
	if !add {
		delete(h.conns, c)
		return true
	}
	if h.closed {
		return false
	}
	if h.conns == nil {
		h.conns = map[net.Conn]struct{}{}
	}
	h.conns[c] = struct{}{}
	return true
}

// CloseConns closes every direct connection being served and refuses new
// ones (the server is shutting down: http.Server does not wait for or
// close connections handed to TLSNextProto on Shutdown).
func (h *Handler) CloseConns() {
	h.connMu.Lock()
	defer h.connMu.Unlock()
	h.closed = true
	for c := range h.conns {
		_ = c.Close()
	}
}

// writeAnswer tells the peer why its connection ends (best effort, bounded).
func writeAnswer(c net.Conn, err error) {
	code := answerRefused
	if errors.Is(err, raft.ErrRemovedMember) {
		code = answerRemoved
	}
	text := err.Error()
	if len(text) > maxAnswer {
		text = text[:maxAnswer]
	}
	buf := make([]byte, 5, 5+len(text))
	buf[0] = code
	binary.BigEndian.PutUint32(buf[1:], uint32(len(text)))
	buf = append(buf, text...)
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(buf)
}

// pong answers a ping.
func pong(c net.Conn) error {
	if err := c.SetWriteDeadline(time.Now().Add(DefaultPingTimeout)); err != nil {
		return err
	}
	_, err := c.Write([]byte{answerPong})
	return err
}

// readAnswers reads what a server writes: pongs, passed on to pongs (at
// most one waiting), and the answer it writes before closing; it returns
// once the connection ends, with the peer's reason if it gave one.
func readAnswers(c net.Conn, pongs chan<- struct{}) error {
	r := bufio.NewReader(c)
	var code [1]byte
	for {
		if _, err := io.ReadFull(r, code[:]); err != nil {
			return nil
		}
		if code[0] != answerPong {
			break
		}
		select {
		case pongs <- struct{}{}:
		default:
		}
	}
	var hdr [5]byte
	hdr[0] = code[0]
	if _, err := io.ReadFull(r, hdr[1:]); err != nil {
		return nil
	}
	n := min(binary.BigEndian.Uint32(hdr[1:]), maxAnswer)
	text := make([]byte, n)
	_, _ = io.ReadFull(r, text)
	if hdr[0] == answerRemoved {
		return fmt.Errorf("%w: %s", errPeerRemovedUs, text)
	}
	return fmt.Errorf("%w: %s", ErrRefused, text)
}

// direct sends first and then every message queued for l on one direct
// connection to p, as stream does on a Connect stream: each message is
// written as it is queued and the buffer flushed when the queue is empty.
// A MsgSnap is handed to the Connect stream (after what came before it is
// flushed), which ends this connection. The connection fails when a write
// or flush takes over SendTimeout (one more second per MiB), or a ping
// (sent DefaultPingAfter after the last pong) goes unanswered for
// DefaultPingTimeout: a partition that swallows bytes is noticed as
// HTTP/2's pings notice it on the Connect path. ErrNoDirect: first was
// not sent.
func (t *Transport) direct(p *peer, l *lane, first outMsg) (snap bool, err error) {
	c, err := t.opts.Dial(p.ctx, p.addr)
	if err != nil {
		return false, err
	}
	t.log.Debug("transport: direct connection", "to", fmt.Sprintf("%x", p.id), "lane", l.name, "addr", p.addr)
	d := newDirectConn(c)
	defer d.close()
	stop := context.AfterFunc(p.ctx, func() { _ = c.Close() })
	defer stop()
	m := first
	for {
		if m.typ == pb.MsgSnap {
			if err := d.w.Flush(); err != nil {
				return true, d.fail(err)
			}
			d.close()
			return t.stream(p, l, m)
		}
		sendStart := t.opts.Clock.Now()
		_ = c.SetWriteDeadline(time.Now().Add(t.opts.SendTimeout + time.Duration(len(m.data)>>20)*time.Second))
		if err := d.write(m.data); err != nil {
			return false, d.fail(err)
		}
		select {
		case m = <-l.q:
			continue
		default:
		}
		if err := d.w.Flush(); err != nil {
			return false, d.fail(err)
		}
		t.noteSlow(p, l, m, sendStart)
		if m, err = t.waitDirect(p, l, d); err != nil {
			return false, d.fail(err)
		}
	}
}

// errNoPong ends a direct connection whose peer did not answer a ping.
var errNoPong = errors.New("transport: ping unanswered")

// pingFrame is the length a ping frame carries; the server answers it with
// a pong byte.
const pingFrame = ^uint32(0)

// directConn is the sending end of a direct connection: the buffered
// writer, and a reader goroutine that takes the peer's pongs and its
// answer (or the connection's end).
type directConn struct {
	c       net.Conn
	w       *bufio.Writer
	pong    chan struct{}
	ended   chan struct{} // closed when the reader returns; answer is then set
	answer  error
	ping    *time.Timer
	pingOut bool
	hdr     [4]byte
}

func newDirectConn(c net.Conn) *directConn {
	d := &directConn{c: c, w: bufio.NewWriterSize(c, directBuffer), pong: make(chan struct{}, 1),
		ended: make(chan struct{}), ping: time.NewTimer(DefaultPingAfter)}
	go func() {
		defer close(d.ended)
		d.answer = readAnswers(c, d.pong)
	}()
	return d
}

func (d *directConn) write(data []byte) error {
	binary.BigEndian.PutUint32(d.hdr[:], uint32(len(data)))
	if _, err := d.w.Write(d.hdr[:]); err != nil {
		return err
	}
	_, err := d.w.Write(data)
	return err
}

// fail closes the connection and returns the peer's answer, if it gave
// one, else err.
func (d *directConn) fail(err error) error {
	d.close()
	if d.answer != nil {
		return d.answer
	}
	return err
}

func (d *directConn) close() {
	_ = d.c.Close()
	d.ping.Stop()
	<-d.ended
}

// waitDirect waits for l's next message, pinging d meanwhile.
func (t *Transport) waitDirect(p *peer, l *lane, d *directConn) (outMsg, error) {
	for {
		select {
		case <-p.ctx.Done():
			return outMsg{}, p.ctx.Err()
		case m := <-l.q:
			return m, nil
		case <-d.ended:
			return outMsg{}, io.EOF
		case <-d.pong:
			d.pingOut = false
			d.ping.Reset(DefaultPingAfter)
		case <-d.ping.C:
			if d.pingOut {
				return outMsg{}, errNoPong
			}
			d.pingOut = true
			d.ping.Reset(DefaultPingTimeout)
			_ = d.c.SetWriteDeadline(time.Now().Add(t.opts.SendTimeout))
			binary.BigEndian.PutUint32(d.hdr[:], pingFrame)
			if _, err := d.w.Write(d.hdr[:]); err != nil {
				return outMsg{}, err
			}
			if err := d.w.Flush(); err != nil {
				return outMsg{}, err
			}
		}
	}
}

// connState is the Handler's set of direct connections being served.
type connState struct {
	connMu sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}
