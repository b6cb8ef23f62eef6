package dispatcher

import (
	"cmp"
	"slices"
)

// peerIndex keeps, for the nodes with a session, the two things every new
// session is given: gossip addresses to join (the first few in address
// order) and WireGuard tunnels. Kept up to date as sessions open and end,
// so opening a session costs the few peers it gets, not a walk over every
// node: at 2,400 nodes the walk and sort held d.mu for ~0.5 ms per session
// and every heartbeat waited behind it. d.mu guards it.
type peerIndex struct {
	gossip []gossipPeer          // sorted by addr, then node
	wg     map[string]struct{}   // nodes whose entry has a valid tunnel
	addrOf map[string]gossipPeer // node -> its entry in gossip
}

type gossipPeer struct{ addr, node string }

func newPeerIndex() peerIndex {
	return peerIndex{wg: make(map[string]struct{}), addrOf: make(map[string]gossipPeer)}
}

func comparePeers(a, b gossipPeer) int {
	return cmp.Or(cmp.Compare(a.addr, b.addr), cmp.Compare(a.node, b.node))
}

// add records node's session entry e.
func (x *peerIndex) add(node string, e *nodeEntry) {
	x.remove(node)
	if e.gossipAddr != "" {
		p := gossipPeer{addr: e.gossipAddr, node: node}
		i, _ := slices.BinarySearchFunc(x.gossip, p, comparePeers)
		x.gossip = slices.Insert(x.gossip, i, p)
		x.addrOf[node] = p
	}
	if e.wg.valid() {
		x.wg[node] = struct{}{}
	}
}

// remove forgets node.
func (x *peerIndex) remove(node string) {
	delete(x.wg, node)
	p, ok := x.addrOf[node]
	if !ok {
		return
	}
	delete(x.addrOf, node)
	if i, found := slices.BinarySearchFunc(x.gossip, p, comparePeers); found {
		x.gossip = slices.Delete(x.gossip, i, i+1)
	}
}

// gossipPeers lists up to n gossip addresses of nodes other than node,
// lowest first.
func (x *peerIndex) gossipPeers(node string, n int) []string {
	var out []string
	for _, p := range x.gossip {
		if len(out) == n {
			break
		}
		if p.node != node {
			out = append(out, p.addr)
		}
	}
	return out
}
