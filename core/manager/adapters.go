package manager

import (
	"context"
	"errors"
	"slices"
	"time"

	"connectrpc.com/connect"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/shoal-project/shoal/core/api"
	"github.com/shoal-project/shoal/core/raft"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

var errRaftNotStarted = errors.New("raft is not started yet")

// raftNodeRef is the Raft node as the RaftService handler sees it; it may
// be called before the node exists (while this manager joins).
type raftNodeRef struct{ m *Manager }

func (r raftNodeRef) node() (*raft.Node, error) {
	if r.m.rn() == nil {
		return nil, connect.NewError(connect.CodeUnavailable, errRaftNotStarted)
	}
	return r.m.rn(), nil
}

func (r raftNodeRef) Step(ctx context.Context, msg *pb.Message) error {
	n, err := r.node()
	if err != nil {
		return err
	}
	return n.Step(ctx, msg)
}

func (r raftNodeRef) AddMember(ctx context.Context, nodeID, addr string) (uint64, []raft.Member, error) {
	n, err := r.node()
	if err != nil {
		return 0, nil, err
	}
	return n.AddMember(ctx, nodeID, addr)
}

func (r raftNodeRef) RemoveMember(ctx context.Context, id uint64) error {
	n, err := r.node()
	if err != nil {
		return err
	}
	return n.RemoveMember(ctx, id)
}

func (r raftNodeRef) WasRemoved(raftID uint64) bool {
	return r.m.rn() != nil && r.m.rn().WasRemoved(raftID)
}

func (r raftNodeRef) Members() []raft.Member {
	if r.m.rn() == nil {
		return nil
	}
	return r.m.rn().Members()
}

func (r raftNodeRef) Leader() (uint64, string) {
	if r.m.rn() == nil {
		return 0, ""
	}
	return r.m.rn().Leader()
}

// leaderRef tells the forwarder where the leader is.
type leaderRef struct{ m *Manager }

func (l leaderRef) IsLeader() bool { return l.m.rn() != nil && l.m.rn().IsLeader() }

func (l leaderRef) LeaderAddr() string {
	if l.m.rn() == nil {
		return ""
	}
	_, addr := l.m.rn().Leader()
	return addr
}

// raftCluster is the Raft group as the API sees it.
type raftCluster struct{ m *Manager }

func (c raftCluster) ReadBarrier(ctx context.Context) error {
	if c.m.rn() == nil {
		return raft.ErrNotLeader
	}
	return readBarrier(ctx, c.m.rn(), readIndexRound)
}

// readIndexRound bounds one ReadIndex round: an election timeout at most
// (1-2 s) when the followers answer the leader's heartbeat.
const readIndexRound = 2 * time.Second

// barrier is the Raft node's read barrier.
type barrier interface {
	ReadBarrier(ctx context.Context) error
}

// readBarrier asks rn for a read barrier until one is granted, ctx ends or
// rn refuses (no longer the leader), each round bounded by round. Raft
// resends the latest pending read with every heartbeat and a leader without
// a quorum steps down, so a round normally ends by itself; the bound keeps
// a call from outliving a round that did not, whatever the cause, and a
// later round's answer releases the earlier ones too.
func readBarrier(ctx context.Context, rn barrier, round time.Duration) error {
	for {
		rctx, cancel := context.WithTimeout(ctx, round)
		err := rn.ReadBarrier(rctx)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
}

func (c raftCluster) Members() []api.Member {
	if c.m.rn() == nil {
		return nil
	}
	leader, _ := c.m.rn().Leader()
	var out []api.Member
	for _, mb := range c.m.rn().Members() {
		out = append(out, api.Member{RaftID: mb.RaftID, NodeID: mb.NodeID, Addr: mb.Addr, Reachable: mb.Reachable, Leader: mb.RaftID == leader, Learner: mb.Learner})
	}
	return out
}

func (c raftCluster) RemoveMember(ctx context.Context, id uint64) error {
	if c.m.rn() == nil {
		return raft.ErrNotLeader
	}
	return c.m.rn().RemoveMember(ctx, id)
}

func (c raftCluster) TransferLeadership(ctx context.Context) error {
	if c.m.rn() == nil {
		return raft.ErrNotLeader
	}
	return c.m.rn().TransferLeadership(ctx, 0)
}

func (c raftCluster) Status() (uint64, uint64) {
	if c.m.rn() == nil {
		return 0, 0
	}
	st := c.m.rn().Status()
	return st.Term, st.Applied
}

// nodeRemoved reports whether the cluster removed nodeID (for
// auth.NewRemovedInterceptor). Every RPC passes here, agents' heartbeats
// too, so once followCluster has seen the cluster object it answers from
// that copy, without the store's lock: a reader waits while Raft applies
// an entry (for seconds, with 100-300 KB entries at 2,400 nodes), and
// heartbeats that wait that long time out and end their sessions (issue
// 14). The copy follows the cluster's watch, so a removal takes effect a
// moment after it is applied. Before the first copy it reads the cluster
// object in place (instead of cloning it with its CA material).
func (m *Manager) nodeRemoved(nodeID string) bool {
	if r := m.removed.Load(); r != nil {
		return slices.Contains(*r, nodeID)
	}
	var removed bool
	_ = m.store.View(func(tx store.ReadTx) error {
		return tx.Range(store.KindCluster, store.All(), func(o store.Object) bool {
			removed = slices.Contains(o.(*shoalv1.Cluster).GetRemovedNodes(), nodeID)
			return false
		})
	})
	return removed
}

// logSourceRef reads logs through the dispatcher, once it exists.
type logSourceRef struct{ m *Manager }

func (l logSourceRef) SubscribeLogs(ctx context.Context, nodeTasks map[string][]string, follow bool, tail int64) (<-chan *shoalv1.LogLine, error) {
	if l.m.logs == nil {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("the dispatcher is not running"))
	}
	return l.m.logs.SubscribeLogs(ctx, nodeTasks, follow, tail)
}
