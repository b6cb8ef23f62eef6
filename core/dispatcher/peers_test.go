package dispatcher

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// scanPeers is what the index replaces: a walk over every node with a
// session. It is the model the index is checked against, and the baseline
// of BenchmarkSessionPeers.
func scanPeers(nodes map[string]*nodeEntry, node string, n int) (gossip []string, wg []string) {
	for id, e := range nodes {
		if id == node || e.sess == nil {
			continue
		}
		if e.gossipAddr != "" {
			gossip = append(gossip, e.gossipAddr)
		}
		if e.wg.valid() {
			wg = append(wg, id)
		}
	}
	slices.Sort(gossip)
	slices.Sort(wg)
	return gossip[:min(len(gossip), n)], wg
}

func indexedPeers(x *peerIndex, node string, n int) (gossip []string, wg []string) {
	for id := range x.wg {
		if id != node {
			wg = append(wg, id)
		}
	}
	slices.Sort(wg)
	return x.gossipPeers(node, n), wg
}

// TestPropertyPeerIndexMatchesAScan: after any sequence of sessions opened
// (new, replacing, with or without a gossip address or a tunnel) and nodes
// expired, every node is given the same gossip peers and tunnels as a walk
// over all nodes would give.
func TestPropertyPeerIndexMatchesAScan(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nodes := make(map[string]*nodeEntry)
		x := newPeerIndex()
		ids := []string{"a", "b", "c", "d", "e", "f"}
		for range rapid.IntRange(0, 60).Draw(t, "steps") {
			id := rapid.SampledFrom(ids).Draw(t, "node")
			if rapid.Bool().Draw(t, "expire") {
				delete(nodes, id)
				x.remove(id)
				continue
			}
			e := &nodeEntry{sess: &session{}}
			if a := rapid.IntRange(0, 4).Draw(t, "addr"); a > 0 {
				e.gossipAddr = fmt.Sprintf("127.0.0.%d:7946", a) // shared addresses too
			}
			if rapid.Bool().Draw(t, "tunnel") {
				e.wg = wgPeer{key: bytes.Repeat([]byte{1}, wgKeySize), endpoint: "127.0.0.1:51820"}
			}
			nodes[id] = e
			x.add(id, e)
		}
		n := rapid.IntRange(1, 4).Draw(t, "n")
		for _, id := range ids {
			wantG, wantW := scanPeers(nodes, id, n)
			gotG, gotW := indexedPeers(&x, id, n)
			if diff := cmp.Diff(wantG, gotG); diff != "" {
				t.Fatalf("gossip peers of %s (-scan +index):\n%s", id, diff)
			}
			if diff := cmp.Diff(wantW, gotW); diff != "" {
				t.Fatalf("tunnels of %s (-scan +index):\n%s", id, diff)
			}
		}
	})
}

// BenchmarkSessionPeers is what opening one session costs in peers on a
// 2,400-node cluster, all under d.mu: the index against the walk it
// replaced.
func BenchmarkSessionPeers(b *testing.B) {
	nodes := make(map[string]*nodeEntry)
	x := newPeerIndex()
	for i := range 2400 {
		id := fmt.Sprintf("node-%04d", i)
		e := &nodeEntry{sess: &session{}, gossipAddr: fmt.Sprintf("127.0.%d.%d:7946", i/250, i%250)}
		nodes[id] = e
		x.add(id, e)
	}
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			indexedPeers(&x, "node-0042", maxGossipPeers)
		}
	})
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			scanPeers(nodes, "node-0042", maxGossipPeers)
		}
	})
}
