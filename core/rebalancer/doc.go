// Package rebalancer moves tasks of running services to better nodes on the
// Raft leader, with a rebalancer plugin deciding which ones.
//
// SwarmKit never moves a running task: after a node returns or joins, a
// service stays piled on the nodes that survived. A service (or the
// cluster, for every service) opts in by naming a rebalancer plugin
// (RebalanceConfig). Every interval, and at once when a node becomes READY
// or joins, the rebalancer asks the plugin about each such service that is
// settled (no rolling update or rollback, every live task RUNNING, no move
// under way), checks every move it proposes (Validate: the task runs and was
// not moved within the window; the target is READY and ACTIVE, runs the
// kind, satisfies the constraints, has the cpu and memory, takes one more
// task of the service, host-mode ports included; at most max_moves per
// pass) and ignores the invalid ones with a counted reason.
//
// It owns one field: Task.rebalance_target, which it sets on the running
// task of an accepted move. The orchestrator applies the move as a
// start-first replacement of that slot (a new task pinned to the target,
// the old one shut down only once the new one runs), so a service never has
// fewer running tasks than before. The rebalancer never creates, shuts down
// or places tasks, and never calls other components.
//
// The move window needs no memory: a slot whose task was created by a move
// (Task.rebalance_from) less than a window ago is not moved again, which
// survives leader changes. One goroutine (Run) owns all mutable state (when
// each service is due).
package rebalancer
