package gossip

import (
	"bytes"

	"github.com/hashicorp/memberlist"
)

// delegate is the Member as memberlist's Delegate. Its callbacks run on
// memberlist's goroutines and hand the work to the loop; the loop never
// calls into memberlist (the transmit queue counts members from an atomic,
// not from memberlist's locked node list), so they cannot deadlock.
type delegate Member

func (d *delegate) m() *Member { return (*Member)(d) }

// leavingMeta is the metadata a member advertises just before it leaves
// gracefully, so that its peers tell its leave from its death: memberlist
// reports both with NotifyLeave and does not say which it was.
var leavingMeta = []byte("leaving")

func (d *delegate) NodeMeta(int) []byte {
	if d.leaving.Load() {
		return leavingMeta
	}
	return nil
}

// NotifyMsg receives a gossiped delta (buf is reused by memberlist).
func (d *delegate) NotifyMsg(buf []byte) {
	b := bytes.Clone(buf)
	d.m().send(func() { d.m().mergeRemote(b, true) })
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.queue.GetBroadcasts(overhead, limit)
}

// LocalState is the full table sent in push-pull (join and every
// PushPullInterval).
func (d *delegate) LocalState(bool) []byte {
	var b []byte
	_ = d.m().do(func() { b = encode(d.table.state()) })
	return b
}

// MergeRemoteState merges a peer's full table; it is applied before Join
// returns.
func (d *delegate) MergeRemoteState(buf []byte, _ bool) {
	b := bytes.Clone(buf)
	_ = d.m().do(func() { d.m().mergeRemote(b, false) })
}

// events is the Member as memberlist's EventDelegate.
type events Member

func (e *events) m() *Member { return (*Member)(e) }

func (e *events) NotifyJoin(n *memberlist.Node) {
	e.alive.Add(1)
	if n.Name != e.table.self {
		name := n.Name
		if e.liveness != nil {
			e.liveness(name, false)
		}
		e.m().send(func() { e.table.joined(name) })
	}
}

// NotifyLeave drops the entries of a member that left or was declared
// dead, and reports a dead one to Config.Liveness.
func (e *events) NotifyLeave(n *memberlist.Node) {
	e.alive.Add(-1)
	name := n.Name
	if e.liveness != nil && !bytes.Equal(n.Meta, leavingMeta) && name != e.table.self {
		e.liveness(name, true)
	}
	e.m().send(func() { e.m().notify(e.table.left(name)) })
}

func (e *events) NotifyUpdate(*memberlist.Node) {}
