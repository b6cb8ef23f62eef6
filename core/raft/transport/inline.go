package transport

import (
	"fmt"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// Inline writes (RATIONALE.md "Writing on the caller's goroutine"). A
// message handed to a lane's sender costs a goroutine hand-off: the
// sender must be scheduled before the message leaves. On the commit path
// that is paid by the leader's MsgApp, just before the leader's loop goes
// into its own fdatasync, and by the follower's MsgAppResp, just after its
// fdatasync; with few processors shared by busy goroutines the woken
// sender waits for one (a trace of the 3-manager benchmark: 89 µs on
// average). So Send writes a small message itself when the lane's direct
// connection is up and idle: nothing queued on the lane is still unwritten
// (the lane's writtenSeq has caught up with its queuedSeq, so the message
// cannot overtake an earlier one) and the sender is not writing (l.mu is
// free: TryLock, never a wait). Otherwise the message is queued as before.
//
// The write is bounded by inlineWriteTimeout, so the caller (the Raft
// loop) is never held long by a peer that stopped reading: a connection
// whose socket buffer stays full that long is closed, the message dropped
// (raft retransmits) and the sender reconnects with its backoff, as after
// any failed write. Only messages up to inlineMax go inline (the control
// messages and small appends of the commit path); large appends stay with
// the sender, whose deadline allows a second per MiB.

const (
	// inlineMax is the largest marshalled message Send writes itself.
	inlineMax = 16 << 10
	// inlineWriteTimeout bounds an inline write and flush.
	inlineWriteTimeout = 50 * time.Millisecond
)

// writeInline writes data on l's direct connection and flushes it, if the
// connection is up and idle; it reports whether the message was taken
// (written, or dropped with the connection after a failed write).
func (t *Transport) writeInline(l *lane, typ pb.MessageType, data []byte) bool {
	if typ == pb.MsgSnap || len(data) > inlineMax || !l.mu.TryLock() {
		return false
	}
	defer l.mu.Unlock()
	d := l.conn
	if d == nil || l.writtenSeq != l.queuedSeq.Load() {
		return false
	}
	_ = d.c.SetWriteDeadline(time.Now().Add(inlineWriteTimeout))
	err := d.write(data)
	if err == nil {
		err = d.w.Flush()
	}
	if err != nil {
		t.log.Debug("transport: inline write failed, dropping the connection", "lane", l.name, "type", typ.String(), "err", fmt.Sprint(err))
		l.conn = nil
		_ = d.c.Close()
	}
	return true
}

// setConn makes d the lane's direct connection (up true) or, if it still
// is, clears it.
func (l *lane) setConn(d *directConn, up bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case up:
		l.conn = d
	case l.conn == d:
		l.conn = nil
	}
}
