package raft

import "errors"

// Sentinel errors returned by Node. Callers match them with errors.Is.
var (
	// ErrNotLeader is returned by leader-only operations on a follower or
	// candidate. Forward the request to Leader().
	ErrNotLeader = errors.New("raft: not the leader")
	// ErrLeadershipLost is returned to a proposer when this node stopped being
	// leader before its entry was applied. The entry may still commit.
	ErrLeadershipLost = errors.New("raft: leadership lost before the entry was applied")
	// ErrProposalDropped is returned when raft refused a proposal (for
	// example while a leadership transfer is in progress or the uncommitted
	// log is full).
	ErrProposalDropped = errors.New("raft: proposal dropped")
	// ErrStopped is returned by every operation after Stop, or after a fatal
	// storage error stopped the node (see Node.Err).
	ErrStopped = errors.New("raft: node stopped")
	// ErrRemoved is returned once this member has been removed from the cluster.
	ErrRemoved = errors.New("raft: this member was removed from the cluster")
	// ErrRemovedMember is returned by Step for a message from a member that
	// was removed; the transport passes it back so the sender learns it.
	ErrRemovedMember = errors.New("raft: message from a removed member")
	// ErrCannotRemoveMember is returned when removing a member would leave
	// fewer reachable members than the new quorum.
	ErrCannotRemoveMember = errors.New("raft: removing the member would lose quorum")
	// ErrCannotAddMember meant that adding a member would leave fewer
	// reachable members than the new quorum. AddMember no longer returns it
	// (a new member joins as a learner, outside the quorum); it stays for
	// callers that match it.
	ErrCannotAddMember = errors.New("raft: adding a member would lose quorum")
	// ErrLearner is returned when a learner (a member still catching up, see
	// Member.Learner) is named where only a voter will do, such as a
	// leadership transfer target.
	ErrLearner = errors.New("raft: member is a learner (still catching up)")
	// ErrTransferAborted is returned by TransferLeadership when raft gave
	// the transfer up: the target did not take over within an election
	// timeout (cut off or not caught up), or another transfer superseded it.
	// This member is still leader (or no leader was elected); retry, maybe
	// with another target.
	ErrTransferAborted = errors.New("raft: leadership transfer aborted")
	// ErrLastManager is returned when asked to remove the only member.
	ErrLastManager = errors.New("raft: cannot remove the last member")
	// ErrMemberNotFound is returned for an unknown Raft ID.
	ErrMemberNotFound = errors.New("raft: no such member")
	// ErrMemberExists is returned when a node that is already a member asks to join.
	ErrMemberExists = errors.New("raft: node is already a member")
	// ErrConfChangeInProgress is returned when another membership change has
	// not been applied yet; retry later.
	ErrConfChangeInProgress = errors.New("raft: another membership change is in progress")
	// ErrAlreadyInitialized is returned by Bootstrap and Join when the data
	// directory already holds a member.
	ErrAlreadyInitialized = errors.New("raft: data directory already initialized")
	// ErrNotInitialized is returned by Restart on an empty data directory.
	ErrNotInitialized = errors.New("raft: data directory not initialized")
	// ErrInvalidConfig is returned for a Config that cannot work.
	ErrInvalidConfig = errors.New("raft: invalid config")
	// ErrBadEnvelope is reported when a log entry or snapshot is not in
	// shoal's format.
	ErrBadEnvelope = errors.New("raft: bad envelope")
)
