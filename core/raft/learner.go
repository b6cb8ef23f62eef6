package raft

import (
	"fmt"
	"slices"

	etcdraft "go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// Learners. AddMember adds a manager as a non-voting learner: it receives
// the log (or a snapshot) like any follower but counts towards no quorum,
// so a member that never comes up, or spends minutes on a large snapshot,
// costs the group nothing. The leader promotes a learner to a voter, with an
// ordinary conf change, once it has caught up:
//
//   - it acknowledged entries up to within Config.PromoteLag of the
//     leader's commit index, and the leader replicates to it normally
//     (not probing, not sending a snapshot);
//   - the leader heard from it within the last election timeout;
//   - the voters reachable from the leader, plus the learner, form a quorum
//     of the voter set after the promotion.
//
// Only the announced leader (it applied every earlier entry, so its
// ConfState is current) promotes, one learner and one conf change at a
// time, at most one attempt per tick: a promotion that cannot be proposed
// now (another change pending, a leadership transfer) is retried on a later
// tick, and a new leader picks up learners its predecessor left behind.

// learnerSet returns the learners of cs.
func learnerSet(cs *pb.ConfState) map[uint64]bool {
	out := make(map[uint64]bool, len(cs.GetLearners()))
	for _, id := range cs.GetLearners() {
		out[id] = true
	}
	return out
}

// learnerProgress is what the promotion decision looks at for one learner.
type learnerProgress struct {
	match     uint64 // highest index the learner acknowledged to this leader
	replicate bool   // the leader is in its normal replication state for it
	reachable bool   // heard from within the last election timeout
}

// caughtUp reports whether a learner is close enough to the leader's commit
// index to be promoted.
func caughtUp(p learnerProgress, commit, lag uint64) bool {
	return p.reachable && p.replicate && p.match > 0 && p.match+lag >= commit
}

// quorumAfterPromotion reports whether reachableVoters reachable voters out
// of voters, plus the promoted (reachable) learner, are a quorum of the
// voters+1 members that vote after the promotion.
func quorumAfterPromotion(voters, reachableVoters int) bool {
	return reachableVoters+1 >= (voters+1)/2+1
}

// maybePromote proposes the promotion of the first caught-up learner. Loop
// goroutine only.
func (n *Node) maybePromote() {
	learners := n.mem.confState.GetLearners()
	if len(learners) == 0 || !n.isRaftLeader() || !n.lead.announced || n.removedSelf {
		return
	}
	if n.confs.busy() || n.promoteTick == n.ticks+1 {
		return
	}
	progress := map[uint64]learnerProgress{}
	n.rn.WithProgress(func(id uint64, _ etcdraft.ProgressType, pr tracker.Progress) {
		if pr.IsLearner {
			progress[id] = learnerProgress{match: pr.Match, replicate: pr.State == tracker.StateReplicate}
		}
	})
	commit := n.rn.BasicStatus().GetCommit()
	sorted := slices.Clone(learners)
	slices.Sort(sorted)
	for _, id := range sorted {
		if n.mem.removed[id] {
			continue
		}
		if _, ok := n.mem.members[id]; !ok {
			continue
		}
		p, ok := progress[id]
		if !ok {
			continue
		}
		p.reachable = n.reachable(id)
		if !caughtUp(p, commit, n.cfg.PromoteLag) {
			continue
		}
		voters := n.mem.confState.GetVoters()
		reach := 0
		for _, v := range voters {
			if n.reachable(v) {
				reach++
			}
		}
		if !quorumAfterPromotion(len(voters), reach) {
			n.log.Debug("raft: learner caught up, but too few voters reachable to promote it",
				"member", fmt.Sprintf("%x", id), "reachable_voters", reach, "voters", len(voters))
			return
		}
		n.promoteTick = n.ticks + 1
		n.log.Info("raft: promoting caught-up learner", "member", fmt.Sprintf("%x", id),
			"match", p.match, "commit", commit)
		// Nobody waits on the result: the buffered channel takes it and a
		// failed attempt is retried on a later tick.
		n.handleConf(&confReq{kind: confPromote, raftID: id, done: make(chan confResult, 1)})
		return
	}
}
