package gossip

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
)

// record is one attachment of one node at one version. A withdrawn record
// (a tombstone) keeps only the attachment's key.
type record struct {
	seq       uint64
	withdrawn bool
	att       Attachment
}

// nodeState is what one message says about one node's attachments. With
// floor > 0 it is complete as of floor: any attachment of that node at
// version <= floor that it does not list had been withdrawn by then. A
// delta (one Publish or Withdraw) has floor 0 and one record.
type nodeState struct {
	node    string
	addr    netip.Addr
	floor   uint64
	records []record
}

// peer is what this node knows of another node's attachments: complete as
// of floor, plus the newer records (live or withdrawn) heard since.
type peer struct {
	addr    netip.Addr
	floor   uint64
	gone    bool
	records map[key]record
}

// table is the attachment table of one member, owned by the member's loop.
// The member's own records are authoritative: it numbers them from seq,
// which only grows, and nothing a peer says replaces them.
type table struct {
	self     string
	selfAddr netip.Addr
	seq      uint64
	own      map[key]record
	peers    map[string]*peer
}

func newTable(self string, firstSeq uint64) *table {
	return &table{self: self, seq: firstSeq, own: map[key]record{}, peers: map[string]*peer{}}
}

// publish records a local attachment and returns the delta to broadcast
// (nil when nothing changed).
func (t *table) publish(a Attachment) (*nodeState, []Change) {
	prev, ok := t.own[a.key()]
	if ok && prev.att.equal(a) {
		return nil, nil
	}
	var changes []Change
	if ok {
		changes = append(changes, t.change(Removed, t.self, t.selfAddr, prev.att))
	}
	t.seq++
	r := record{seq: t.seq, att: a}
	t.own[a.key()] = r
	changes = append(changes, t.change(Added, t.self, t.selfAddr, a))
	return t.delta(r), changes
}

// withdraw removes every local attachment of a task and returns one delta
// per attachment removed.
func (t *table) withdraw(taskID string) ([]*nodeState, []Change) {
	var deltas []*nodeState
	var changes []Change
	for _, k := range sortedKeys(t.own) {
		if k.task != taskID {
			continue
		}
		prev := t.own[k]
		delete(t.own, k)
		t.seq++
		deltas = append(deltas, t.delta(record{seq: t.seq, withdrawn: true, att: Attachment{NetworkID: k.network, TaskID: k.task}}))
		changes = append(changes, t.change(Removed, t.self, t.selfAddr, prev.att))
	}
	return deltas, changes
}

func (t *table) delta(r record) *nodeState {
	return &nodeState{node: t.self, addr: t.selfAddr, records: []record{r}}
}

// merge applies what a peer said about one node. It returns the records
// that were news (to relay onward) and the resulting changes.
func (t *table) merge(ns nodeState) (news []record, changes []Change) {
	if ns.node == t.self {
		t.refute(ns)
		return nil, nil
	}
	p := t.peers[ns.node]
	if p == nil {
		p = &peer{records: map[key]record{}}
		t.peers[ns.node] = p
	}
	if p.gone {
		return nil, nil
	}
	if ns.addr.IsValid() {
		p.addr = ns.addr
	}
	listed := make(map[key]bool, len(ns.records))
	for _, r := range ns.records {
		listed[r.att.key()] = true
		if r.seq <= p.floor {
			continue // p was complete at floor: r is known or was withdrawn
		}
		cur, ok := p.records[r.att.key()]
		if ok && cur.seq >= r.seq {
			continue
		}
		p.records[r.att.key()] = r
		news = append(news, r)
		changes = append(changes, t.replace(ns.node, p.addr, cur, ok, r)...)
	}
	if ns.floor > p.floor {
		changes = append(changes, t.raiseFloor(ns.node, p, ns.floor, listed)...)
	}
	return news, changes
}

// replace emits the changes of cur (if any) giving way to r.
func (t *table) replace(node string, addr netip.Addr, cur record, had bool, r record) []Change {
	wasLive := had && !cur.withdrawn
	if wasLive && !r.withdrawn && cur.att.equal(r.att) {
		return nil
	}
	var changes []Change
	if wasLive {
		changes = append(changes, t.change(Removed, node, addr, cur.att))
	}
	if !r.withdrawn {
		changes = append(changes, t.change(Added, node, addr, r.att))
	}
	return changes
}

// raiseFloor applies a state complete as of floor: records at or below it
// that the state does not list were withdrawn, and tombstones at or below
// it are no longer needed to hold off stale news.
func (t *table) raiseFloor(node string, p *peer, floor uint64, listed map[key]bool) []Change {
	var changes []Change
	for _, k := range sortedKeys(p.records) {
		r := p.records[k]
		if r.seq > floor {
			continue
		}
		if !r.withdrawn && !listed[k] {
			changes = append(changes, t.change(Removed, node, p.addr, r.att))
			delete(p.records, k)
		}
		if r.withdrawn {
			delete(p.records, k)
		}
	}
	p.floor = floor
	return changes
}

// refute keeps this node's numbering ahead of anything a peer still holds
// about it (from an earlier run with the same ID), so that its next change
// and its next full state win over those stale records.
func (t *table) refute(ns nodeState) {
	for _, r := range ns.records {
		t.seq = max(t.seq, r.seq)
	}
	t.seq = max(t.seq, ns.floor)
}

// left drops a dead or departed node's entries and ignores news of it
// until it joins again.
func (t *table) left(node string) []Change {
	if node == t.self {
		return nil
	}
	var changes []Change
	if p := t.peers[node]; p != nil {
		for _, k := range sortedKeys(p.records) {
			if r := p.records[k]; !r.withdrawn {
				changes = append(changes, t.change(Removed, node, p.addr, r.att))
			}
		}
	}
	t.peers[node] = &peer{gone: true, records: map[key]record{}}
	return changes
}

// joined accepts news of a node again. Its records start over: a node
// back from the dead republishes through its full state.
func (t *table) joined(node string) {
	if p := t.peers[node]; p != nil {
		p.gone = false
	}
}

// state is this member's full table: its own records (complete as of its
// seq) and what it knows of every live peer, for push-pull.
func (t *table) state() []nodeState {
	out := []nodeState{{node: t.self, addr: t.selfAddr, floor: t.seq, records: sortedRecords(t.own)}}
	for _, node := range slices.Sorted(maps.Keys(t.peers)) {
		p := t.peers[node]
		if p.gone || (len(p.records) == 0 && p.floor == 0) {
			continue
		}
		out = append(out, nodeState{node: node, addr: p.addr, floor: p.floor, records: sortedRecords(p.records)})
	}
	return out
}

// entries lists every live attachment, sorted by network, task and node.
func (t *table) entries() []Entry {
	var out []Entry
	for _, r := range t.own {
		out = append(out, Entry{Attachment: r.att, NodeID: t.self, NodeAddr: t.selfAddr})
	}
	for node, p := range t.peers {
		for _, r := range p.records {
			if !r.withdrawn {
				out = append(out, Entry{Attachment: r.att, NodeID: node, NodeAddr: p.addr})
			}
		}
	}
	slices.SortFunc(out, compareEntries)
	return out
}

func (t *table) change(kind ChangeKind, node string, addr netip.Addr, a Attachment) Change {
	return Change{Kind: kind, Entry: Entry{Attachment: a, NodeID: node, NodeAddr: addr}}
}

func compareEntries(a, b Entry) int {
	return cmp.Or(cmp.Compare(a.NetworkID, b.NetworkID), cmp.Compare(a.TaskID, b.TaskID), cmp.Compare(a.NodeID, b.NodeID))
}

func sortedRecords(m map[key]record) []record {
	out := make([]record, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

func sortedKeys(m map[key]record) []key {
	out := slices.Collect(maps.Keys(m))
	slices.SortFunc(out, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.network, b.network), cmp.Compare(a.task, b.task))
	})
	return out
}
