package node

import (
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"github.com/shoal-project/shoal/core/agent"
	"github.com/shoal-project/shoal/core/gossip"
)

// Every node is a gossip member, also without cluster networks (process
// and sim backends, or no root): memberlist's failure detector is the
// managers' second failure signal (RATIONALE.md, "Failure detection").
// A node with cluster networks has one member, the network's (it reports
// verdicts too); one without gets a livenessMember that publishes nothing.

// gossipVerdict hands the gossip layer's verdict on a node to this node's
// manager, if it runs one (the leader's dispatcher acts on it).
func (n *Node) gossipVerdict(nodeID string, dead bool) {
	n.mu.Lock()
	m := n.mgr
	n.mu.Unlock()
	if m != nil {
		m.GossipVerdict(nodeID, dead)
	}
}

// livenessMember is the gossip member of a node without cluster networks.
// It starts with the first gossip keys a session brings and joins the
// peers the session names; a member that cannot start (its port is taken)
// leaves the node with heartbeats only, and says so.
type livenessMember struct {
	cfg gossip.Config
	log *slog.Logger

	mu     sync.Mutex
	m      *gossip.Member
	failed bool
	closed bool
}

// newLivenessMember returns the node's failure-detection member and its
// gossip address (host of the advertise address, the gossip port); nil
// and "" when the advertise address is not ip:port.
func (n *Node) newLivenessMember() (*livenessMember, string) {
	ip, ok := n.gossipIP()
	if !ok {
		n.log.Warn("no gossip failure detection: no address for it (give --advertise-addr ip:port)", "advertise_addr", n.st.AdvertiseAddr)
		return nil, ""
	}
	port := n.cfg.GossipPort
	if port == 0 {
		port = DefaultGossipPort
	}
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(port))
	log := n.log.With("component", "gossip")
	return &livenessMember{
		cfg: gossip.Config{NodeID: n.st.NodeID, BindAddr: addr, AdvertiseAddr: addr, Logger: log, Liveness: n.gossipVerdict},
		log: log,
	}, addr
}

// SetGossip starts the member with keys (first call) or rotates them, and
// joins peers while the member knows no other.
func (l *livenessMember) SetGossip(keys [][]byte, peers []string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed || l.closed {
		return nil
	}
	if l.m == nil {
		cfg := l.cfg
		cfg.Keys = keys
		m, err := gossip.New(cfg)
		if err != nil {
			l.failed = true
			l.log.Warn("no gossip failure detection on this node (heartbeats only): give a free --gossip-port", "err", err)
			return nil
		}
		l.m = m
	} else if err := l.m.SetKeys(keys); err != nil {
		return err
	}
	if l.m.NumMembers() <= 1 {
		if err := l.m.Join(peers); err != nil {
			l.log.Warn("gossip join", "peers", peers, "err", err)
		}
	}
	return nil
}

// Close leaves the gossip (peers do not count it dead) and stops.
func (l *livenessMember) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.m == nil {
		return nil
	}
	return l.m.Close()
}

// agentGossip is the agent's view of l; a nil interface without it.
func agentGossip(l *livenessMember) agent.Gossip {
	if l == nil {
		return nil
	}
	return l
}

// gossipIP is the IP the node's gossip member binds and advertises: its
// advertise address's, or for a worker that listens on nothing, the local
// address of its route to the first manager (a UDP "connection" sends
// nothing).
func (n *Node) gossipIP() (netip.Addr, bool) {
	if host, _, err := net.SplitHostPort(n.st.AdvertiseAddr); err == nil {
		ip, err := netip.ParseAddr(host)
		return ip, err == nil && !ip.IsUnspecified()
	}
	n.mu.Lock()
	managers := append([]string(nil), n.st.Managers...)
	n.mu.Unlock()
	for _, m := range managers {
		c, err := net.Dial("udp", m)
		if err != nil {
			continue
		}
		local, _ := c.LocalAddr().(*net.UDPAddr)
		_ = c.Close()
		if local != nil {
			if ip, ok := netip.AddrFromSlice(local.IP); ok {
				return ip.Unmap(), true
			}
		}
	}
	return netip.Addr{}, false
}
