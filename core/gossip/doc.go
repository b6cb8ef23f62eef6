// Package gossip is the node's membership in the cluster-wide gossip
// (hashicorp/memberlist) and its copy of the attachment table: which task
// has which address on which network, on which node, behind which underlay
// address. The data plane programs VXLAN FDB and neighbour entries and the
// embedded DNS answers from this table; managers are not on this path.
//
// Each node publishes the attachments of its running tasks (Publish) and
// withdraws them when the tasks stop (Withdraw). A change spreads as a
// delta piggybacked on memberlist's gossip and relayed by every member
// that finds it new; full tables are exchanged on join and every push-pull
// interval, so a member that missed deltas catches up. A member that
// leaves or is declared dead has its entries dropped everywhere.
//
// Versions: each node numbers its own changes (a sequence seeded from the
// clock, so a restarted node's numbers are higher than its earlier run's).
// A record replaces another of the same node, network and task only when
// its number is higher, and a full state says "complete as of version F",
// which removes the older records it does not list. So stale gossip never
// revives a withdrawn entry, and a node's own entries are authoritative:
// nothing a peer says changes them.
//
// Failure detection: memberlist's verdicts on the other members (dead
// after failed direct and indirect probes and an unrefuted suspicion;
// alive on join or return) go to Config.Liveness. A member that leaves
// gracefully advertises so in its metadata first, so its leave is not
// reported as a death. The managers use the verdicts as a second failure
// signal beside heartbeats (core/dispatcher).
//
// Gossip is always encrypted (AES-GCM, memberlist's keyring); the managers
// hand out the keys and rotate them with SetKeys, without a restart.
//
// It owns the memberlist instance and the table (one goroutine, Member.run,
// owns the table). It must not touch the store, Raft, the dispatcher, the
// kernel or the runtime: callers feed it attachments and consume Watch.
package gossip
