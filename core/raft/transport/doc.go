// Package transport carries Raft messages between shoal managers over the
// RaftService (Connect; the caller supplies clients already set up for
// HTTP/2 mutual TLS).
//
// It owns: two sender goroutines per peer (lanes), each with a bounded
// queue (overflow is dropped, raft retransmits): the bulk lane carries
// MsgApp and MsgSnap, the control lane everything else (heartbeats, votes,
// responses), so a heartbeat never waits behind megabytes of appends
// (issue 14). Each lane writes each message into one long-lived
// client stream to that peer as soon as it is queued, without waiting for
// an answer (the stream is closed and its answer awaited only after a
// snapshot, after 5 s idle, or on an error, then reopened with the backoff),
// splitting each marshalled raftpb.Message into
// RaftMessageChunk pieces so a snapshot larger than any single message limit
// still arrives, the receiving Handler that reassembles chunks strictly in
// order and steps complete messages into the node, and the Join, Leave and
// ResolveAddress RPCs, which delegate to the node. It also owns the health of
// its connections (health.go): the HTTP client a ClientFunc should use pings
// idle HTTP/2 connections and dials with a short timeout, failed sends retry
// with a backoff capped at a second, and ServerHTTP2 makes the receiving
// server end the streams of a peer that vanished.
//
// Between managers that both speak it, each lane instead uses the direct
// path (direct.go, Options.Dial): one TLS connection negotiating the ALPN
// protocol ProtoRaft on the managers' listener, length-prefixed marshalled
// messages written by the lane's sender into a buffered writer (flushed
// when its queue is empty) and read and stepped by one goroutine on the
// receiving end (Handler.ServeConn, which an http.Server's TLSNextProto
// hands such connections to after the caller's ConnAuthorizer admits it).
// The sender pings every DefaultPingAfter and drops the connection when
// the pong is DefaultPingTimeout late, as the HTTP/2 client does. MsgSnap
// always takes the Connect stream (raft must be told its outcome), and a
// peer that negotiates HTTP/2 instead (a manager from before ProtoRaft) is
// sent to on the Connect stream, the direct path tried again a minute later.
//
// It must not touch raft state directly: it only calls the node's Step,
// membership methods and the raft.Reporter callbacks. It knows nothing of
// certificates; authenticating the caller is the HTTP layer's job (and the
// ConnAuthorizer's on the direct path), and the caller's node ID reaches
// the Handler through HandlerOptions.NodeID.
package transport
