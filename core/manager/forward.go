package manager

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/api"
	"github.com/shoal-project/shoal/core/auth"
	"github.com/shoal-project/shoal/internal/clock"
	"github.com/shoal-project/shoal/internal/endpoint"
)

// Headers a follower sets when it forwards a call to the leader; the leader
// trusts them only from a manager certificate (core/auth).
const (
	headerForwarded = "Shoal-Forwarded"
)

// forwardOptions bound how long a forwarded call may wait on a leader that
// is gone. An attempt in flight ends when this manager learns of another
// leader (or loses the leader), when the connection fails its HTTP/2 health
// check, or when the dial times out; budget bounds the retries.
type forwardOptions struct {
	// dialTimeout bounds the TCP connect and the TLS handshake.
	dialTimeout time.Duration
	// pingAfter is how long a connection may stay silent before a PING
	// checks it; pingTimeout is how long the answer may take before the
	// connection, and every call on it, is dropped.
	pingAfter, pingTimeout time.Duration
	// budget is how long a call may wait for a leader that answers it,
	// over all its attempts. It does not cut an answer that has started.
	budget time.Duration
	// retryDelay separates attempts while the leader stays the same.
	retryDelay time.Duration
	// maxBufferedBody is the largest request body kept for a retry; a
	// larger one is sent once.
	maxBufferedBody int64
}

// defaultForwardOptions fit Raft's 1-2 s election timeout: a dead leader is
// noticed by the health check within about two of them even when no new
// leader is known yet.
func defaultForwardOptions() forwardOptions {
	return forwardOptions{
		dialTimeout:     2 * time.Second,
		pingAfter:       time.Second,
		pingTimeout:     2 * time.Second,
		budget:          10 * time.Second,
		retryDelay:      100 * time.Millisecond,
		maxBufferedBody: 32 << 20,
	}
}

var (
	// errNotSent marks an attempt that ended before its request headers
	// were written (e.g. cancelled while dialling): safe to send again.
	errNotSent       = errors.New("the call was not sent")
	errLeaderChanged = errors.New("this manager learned of another leader (or lost the leader) while the call was in flight")
	errNoLeader      = errors.New("this manager knows no leader: a majority of the managers may be unreachable from it")
)

// forwarder sends calls that only the leader can answer to the leader: one
// hop at most. It works below the RPC protocols, so Connect, gRPC and
// gRPC-web calls, unary or streaming, are forwarded alike. Reads are retried
// against whichever manager leads next; a write whose outcome is unknown
// (it reached a leader that then went away) fails with Unavailable.
type forwarder struct {
	leader   leaderSource
	prefixes []string
	tlsConf  func() *tls.Config
	nodeID   string
	log      *slog.Logger
	opts     forwardOptions
	clk      clock.Clock
	errw     *connect.ErrorWriter
	proxy    *httputil.ReverseProxy

	mu      sync.Mutex
	tr      *http.Transport
	tlsUsed *tls.Config
}

func newForwarder(leader leaderSource, nodeID string, prefixes []string, tlsConf func() *tls.Config, log *slog.Logger, opts forwardOptions) *forwarder {
	f := &forwarder{
		leader: leader, nodeID: nodeID, prefixes: prefixes, tlsConf: tlsConf,
		log: log, opts: opts, clk: clock.Real(), errw: connect.NewErrorWriter(),
	}
	f.proxy = &httputil.ReverseProxy{
		// The leader's address is chosen per attempt, in RoundTrip.
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.Out.URL.Scheme = "https" },
		Transport:     leaderTransport{f},
		FlushInterval: -1,
		ErrorHandler:  f.writeError,
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return f
}

func (f *forwarder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(endpoint.HeaderEntryNode, f.nodeID)
		if staleReads && isLocalReadable(r.URL.Path) {
			r.Header.Set(endpoint.HeaderLocalRead, "1") // the planted bug of chaosbug builds
		}
		if r.Header.Get(endpoint.HeaderLocalRead) != "" {
			r = r.WithContext(api.WithLocalRead(r.Context()))
		}
		if v, _ := f.leader.current(); v.self || !f.shouldForward(r) {
			next.ServeHTTP(w, r)
			return
		}
		id, ok := auth.FromContext(r.Context())
		r = r.Clone(r.Context())
		auth.SetForwardedHeaders(r.Header, id, ok)
		r.Header.Set(headerForwarded, f.nodeID)
		f.proxy.ServeHTTP(w, r)
	})
}

func (f *forwarder) shouldForward(r *http.Request) bool {
	if r.Header.Get(headerForwarded) != "" {
		return false // one hop at most
	}
	if r.Header.Get(endpoint.HeaderLocalRead) != "" && isLocalReadable(r.URL.Path) {
		return false
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(r.URL.Path, p) {
			return true
		}
	}
	return false
}

// writeError answers a call that no leader answered in the protocol the
// client speaks.
func (f *forwarder) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		ce = connect.NewError(connect.CodeUnavailable, fmt.Errorf("forward to the leader: %w", err))
	}
	if werr := f.errw.Write(w, r, ce); werr != nil {
		f.log.Debug("write forwarding error", "err", werr)
	}
}

// leaderTransport is the proxy's RoundTripper: it sends each attempt to the
// leader of the moment.
type leaderTransport struct{ f *forwarder }

func (t leaderTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c, err := t.f.newCall(r)
	if err != nil {
		return nil, err
	}
	return c.run()
}

// forwardCall is one forwarded call and its attempts.
type forwardCall struct {
	f    *forwarder
	r    *http.Request
	read bool
	// body is the request body, kept for retries; nil when the call has
	// none or it was too large to keep (then it is never retried).
	body      []byte
	retryable bool
	deadline  time.Time
	lastErr   error
}

func (f *forwarder) newCall(r *http.Request) (*forwardCall, error) {
	c := &forwardCall{f: f, r: r, read: isLocalReadable(r.URL.Path), retryable: true, deadline: f.clk.Now().Add(f.opts.budget)}
	if r.Body == nil || r.Body == http.NoBody {
		return c, nil
	}
	// Every forwarded procedure takes one request message (unary or
	// server-streaming), so its body ends.
	b, err := io.ReadAll(io.LimitReader(r.Body, f.opts.maxBufferedBody+1))
	if err != nil {
		r.Body.Close()
		return nil, fmt.Errorf("read the request: %w", err)
	}
	if int64(len(b)) > f.opts.maxBufferedBody {
		c.retryable = false
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
		return c, nil
	}
	r.Body.Close()
	c.body = b
	return c, nil
}

// run sends the call to the leader until one answers, the outcome of a
// write becomes unknown, or the budget is spent.
func (c *forwardCall) run() (*http.Response, error) {
	for {
		v, changed, err := c.awaitLeader()
		if err != nil {
			return nil, err
		}
		res, err := c.attempt(v, changed)
		switch {
		case err == nil && !(c.read && c.retryable && answeredUnavailable(res)):
			return res, nil
		case err == nil:
			if c.f.clk.Now().After(c.deadline) {
				return res, nil // the leader's own Unavailable says why
			}
			res.Body.Close()
			c.lastErr = fmt.Errorf("the leader at %s answered Unavailable", v.addr)
		case c.r.Context().Err() != nil:
			return nil, c.r.Context().Err()
		default:
			c.f.log.Info("forwarded call to the leader failed", "leader", v.addr, "procedure", c.r.URL.Path, "err", err)
			c.f.dropIdleConns()
			if err := c.final(v, err); err != nil {
				return nil, err
			}
			c.lastErr = fmt.Errorf("leader at %s: %w", v.addr, err)
		}
		if err := c.pause(changed); err != nil {
			return nil, err
		}
	}
}

// final is the error to answer with when the attempt that failed with err
// must not be repeated, nil when it may be.
func (c *forwardCall) final(v leaderView, err error) error {
	sent := !notSent(err)
	switch {
	case c.retryable && (c.read || !sent):
		return nil
	case sent:
		return outcomeUnknown(v, err)
	}
	return connect.NewError(connect.CodeUnavailable, fmt.Errorf("cannot reach the leader at %s: %w", v.addr, err))
}

// awaitLeader returns the current leader, waiting while none is known.
func (c *forwardCall) awaitLeader() (leaderView, <-chan struct{}, error) {
	for {
		v, changed := c.f.leader.current()
		if v.known() && v.addr != "" {
			return v, changed, nil
		}
		if err := c.pause(changed); err != nil {
			return v, changed, err
		}
	}
}

// pause waits until the leader changes, retryDelay passes or the budget or
// the caller's context ends.
func (c *forwardCall) pause(changed <-chan struct{}) error {
	left := c.deadline.Sub(c.f.clk.Now())
	if left <= 0 {
		return c.gaveUp()
	}
	select {
	case <-changed:
		return nil
	case <-c.f.clk.After(min(left, c.f.opts.retryDelay)):
		return nil
	case <-c.r.Context().Done():
		return c.r.Context().Err()
	}
}

func (c *forwardCall) gaveUp() error {
	cause := c.lastErr
	if cause == nil {
		cause = errNoLeader
	}
	return connect.NewError(connect.CodeUnavailable, fmt.Errorf("manager %s found no leader that answered within %s: %w", c.f.nodeID, c.f.opts.budget, cause))
}

// attempt sends the call to v; it is cancelled when changed closes. The
// response body holds the attempt until it is closed.
func (c *forwardCall) attempt(v leaderView, changed <-chan struct{}) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(c.r.Context())
	go func() {
		select {
		case <-changed:
			cancel(errLeaderChanged)
		case <-ctx.Done():
		}
	}()
	var wrote atomic.Bool
	out := c.r.Clone(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }}))
	out.URL.Host, out.Host = v.addr, v.addr
	if c.body != nil {
		out.Body = io.NopCloser(bytes.NewReader(c.body))
		out.ContentLength = int64(len(c.body))
	}
	res, err := c.f.transport().RoundTrip(out)
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errLeaderChanged) {
			err = fmt.Errorf("%w: %w", cause, err)
		}
		if !wrote.Load() {
			err = fmt.Errorf("%w: %w", errNotSent, err)
		}
		cancel(nil)
		return nil, err
	}
	res.Body = &releaseOnClose{ReadCloser: res.Body, release: func() { cancel(nil) }}
	return res, nil
}

// releaseOnClose ends an attempt's context once its answer was read.
type releaseOnClose struct {
	io.ReadCloser
	release func()
	once    sync.Once
}

func (b *releaseOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// answeredUnavailable reports whether the leader answered Unavailable (no
// longer the leader, or no quorum behind it): a read may go elsewhere.
func answeredUnavailable(res *http.Response) bool {
	return res.StatusCode == http.StatusServiceUnavailable || res.Header.Get("Grpc-Status") == "14"
}

// notSent reports whether err happened before the request left this
// manager (the connection could not be made), so a retry cannot apply it twice.
func notSent(err error) bool {
	var op *net.OpError
	return errors.Is(err, errNotSent) || errors.As(err, &op) && op.Op == "dial"
}

func outcomeUnknown(v leaderView, err error) error {
	return connect.NewError(connect.CodeUnavailable, fmt.Errorf(
		"the call reached the leader at %s but no answer came back (%w): its outcome is unknown; read the object back, or retry if the call is idempotent", v.addr, err))
}

// transport is the health-checked HTTP/2 transport to the leaders, rebuilt
// when the node's certificate changes.
func (f *forwarder) transport() *http.Transport {
	f.mu.Lock()
	defer f.mu.Unlock()
	conf := f.tlsConf()
	if f.tr != nil && f.tlsUsed == conf {
		return f.tr
	}
	if f.tr != nil {
		f.tr.CloseIdleConnections()
	}
	var protos http.Protocols
	protos.SetHTTP2(true)
	d := &net.Dialer{Timeout: f.opts.dialTimeout}
	f.tr = &http.Transport{
		Protocols:           &protos,
		TLSClientConfig:     conf.Clone(),
		DialContext:         d.DialContext,
		TLSHandshakeTimeout: f.opts.dialTimeout,
		IdleConnTimeout:     30 * time.Second,
		HTTP2:               &http.HTTP2Config{SendPingTimeout: f.opts.pingAfter, PingTimeout: f.opts.pingTimeout},
	}
	f.tlsUsed = conf
	return f.tr
}

// dropIdleConns closes pooled connections after a failed attempt: one may
// be a dead connection to a leader that went away.
func (f *forwarder) dropIdleConns() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tr != nil {
		f.tr.CloseIdleConnections()
	}
}

// isLocalReadable says whether a procedure is a read that a follower may
// answer from its own store.
func isLocalReadable(path string) bool {
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return false
	}
	m := path[i+1:]
	return strings.HasPrefix(m, "List") || strings.HasPrefix(m, "Get") || strings.HasPrefix(m, "Watch")
}
