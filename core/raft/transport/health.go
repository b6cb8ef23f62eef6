package transport

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// Connection health. A partition that drops packets (rather than refusing
// them) leaves TCP connections that look open while the kernel retransmits
// into the void with a backoff that grows to minutes; HTTP/2 keeps putting
// new streams on them. So both ends ping an HTTP/2 connection that has read
// nothing for a while and close it when the answer is late, and dials are
// short so a new connection is tried about once a second until the network
// lets one through. See RATIONALE.md "Noticing dead peers".
const (
	// DefaultDialTimeout bounds one TCP connect to a peer (a SYN dropped
	// by a partition is retried by a new dial, not by the kernel's backoff).
	DefaultDialTimeout = time.Second
	// DefaultHandshakeTimeout bounds the TLS handshake on a new connection.
	DefaultHandshakeTimeout = 2 * time.Second
	// DefaultPingAfter is how long a sender's connection may read nothing
	// (a busy Raft connection reads an answer every tick) before it is pinged.
	DefaultPingAfter = 500 * time.Millisecond
	// DefaultPingTimeout is how long a ping may go unanswered before the
	// connection and all its streams are closed.
	DefaultPingTimeout = time.Second
	// ServerPingAfter and ServerPingTimeout are the receive side's (and
	// everything else served on the same listener: agent sessions, the API)
	// more patient version: it only has to end the streams of a peer that
	// vanished, and must not end the session of an agent that a loaded
	// machine kept off the CPU for a few seconds (the sender's own, faster
	// check is what replaces a dead Raft connection). Together they give a
	// silent peer 15 s, the dispatcher's default heartbeat grace (3 periods
	// of 5 s): the transport ends no agent session the session protocol
	// itself would keep (at 2,400 simulated nodes, whose process the
	// benchmark starves for 6–9 s at a time, a 5 s answer closed ~2,000
	// sessions a run; issue 14).
	ServerPingAfter   = 5 * time.Second
	ServerPingTimeout = 10 * time.Second
	idleConnTimeout   = 30 * time.Second
)

// NewHTTPClient returns the HTTP client a ClientFunc should build its
// RaftService client on: HTTP/2 over TLS with tlsConf (cleartext HTTP/2 when
// tlsConf is nil, for tests), with the health checks above. Build one per
// peer, so a peer's dead connection is never shared with another peer.
func NewHTTPClient(tlsConf *tls.Config) *http.Client {
	var p http.Protocols
	if tlsConf == nil {
		p.SetUnencryptedHTTP2(true)
	} else {
		p.SetHTTP2(true)
		tlsConf = tlsConf.Clone() // a Transport edits its config (ALPN)
	}
	d := &net.Dialer{Timeout: DefaultDialTimeout}
	tr := &http.Transport{
		Protocols:           &p,
		TLSClientConfig:     tlsConf,
		DialContext:         d.DialContext,
		TLSHandshakeTimeout: DefaultHandshakeTimeout,
		IdleConnTimeout:     idleConnTimeout,
		HTTP2:               &http.HTTP2Config{SendPingTimeout: DefaultPingAfter, PingTimeout: DefaultPingTimeout},
	}
	return &http.Client{Transport: tr}
}

// ServerHTTP2 returns the HTTP/2 settings of a server that serves the
// RaftService: a connection that has read nothing for ServerPingAfter is
// pinged and closed if the answer takes over ServerPingTimeout, which ends
// the Handler streams of a peer a partition cut off.
func ServerHTTP2() *http.HTTP2Config {
	return &http.HTTP2Config{SendPingTimeout: ServerPingAfter, PingTimeout: ServerPingTimeout}
}
