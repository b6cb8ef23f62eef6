// Package dispatcher is the leader-side end of the worker protocol
// (shoal.v1.DispatcherService): it keeps one session per connected node,
// turns heartbeats into node liveness (READY / DOWN), streams each node its
// task assignments (the complete set, then increments from the node's
// store watch, collected for AssignmentBatch before each message; the
// status the node itself reported does not wake its stream), takes task
// status reports and writes them back in batches,
// and brokers task log subscriptions between the API and the nodes.
//
// Task status reports are group-committed: a report is answered only once
// it is stored, and all reports that arrive while one batch is being
// proposed go into the next batch, so thousands of sessions reporting at
// once cost a few proposals (one per commit time), not one each.
//
// It owns the in-memory session table, the pending-write batcher and the log
// subscription table of one manager while that manager leads (Run). It
// writes only Node.Description / Node.Status / Node.Role (when it has to
// create a node) and Task.Status through the store; it never changes task
// specs, desired states or placement (those belong to the orchestrator and
// the scheduler), never talks to Raft directly and never touches the disk.
//
// A follower's dispatcher answers Session with the leader's address and ends
// the stream; sessions exist only on the leader, so the other calls on a
// follower fail with NotFound and the agent opens a new session.
//
// The gossip layer's dead verdicts (GossipVerdict, from the manager's own
// gossip member) are a second liveness signal: a node held dead is DOWN as
// soon as its heartbeat is also overdue (liveness.go).
//
// The disruption guard (disruption.go) rate-limits DOWN marking while many
// nodes of a large cluster miss their heartbeats at once, a sign that this
// manager, not the nodes, is at fault: expired nodes are held READY and
// downed one per heartbeat period instead of all at once; outside such a
// disruption a large cluster downs at most a hundredth of its nodes (at
// least 5) per period.
//
// Times come from Config.Clock, so heartbeat expiry and batch flushing can
// be driven by a manual clock in tests.
package dispatcher
