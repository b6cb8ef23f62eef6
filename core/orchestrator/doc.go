// Package orchestrator reconciles services with their tasks on the Raft
// leader, as swarm mode's orchestrators do.
//
// It owns the task lifecycle decisions that depend on desired state only:
//
//   - replicated services: slots 1..N each hold exactly one task whose
//     desired state is at most RUNNING; missing slots get a NEW task, slots
//     above N have their task's desired state set to SHUTDOWN;
//   - global services: one task per eligible node (ready, not drained, kind
//     supported, constraints satisfied), following nodes as they join, leave,
//     go down or are drained;
//   - restart policy: a task that stopped (COMPLETE, FAILED, REJECTED, ...)
//     while desired RUNNING is shut down and, if the policy allows
//     (condition, max attempts within window), replaced in the same slot by
//     a task with desired state READY that is promoted to RUNNING once the
//     restart delay has passed (the slot is never empty and never holds two
//     live tasks); when the policy forbids a restart the old task's desired
//     state becomes COMPLETE, which marks the slot as finished;
//   - tasks on DOWN, drained or removed nodes are replaced at once;
//   - service updates (a new spec_version, or a changed task force_update
//     counter) replace tasks of older versions batch by batch under the
//     service's update (or rollback) config (update.go): a batch starts when
//     the last one ran for its monitor window and the delay passed; failures
//     past the ratio pause the roll or roll back to previous_spec; the roll's
//     state is written to Service.update_status;
//   - rebalance moves (rebalance.go): a running task whose
//     rebalance_target the rebalancer set gets one start-first replacement
//     in its slot pinned to that node; the old task is shut down once the
//     replacement runs, or keeps serving if it fails or its node is lost;
//   - removed services: their tasks are shut down and deleted once stopped
//     (directly if never assigned or if their node is gone);
//   - task history: at most the cluster's task_history_limit (default 5)
//     tasks are kept per slot; the oldest stopped ones are deleted.
//
// All writes go through store.Batch, so scaling to 10,000 replicas or
// replacing the 100 tasks of a failed node costs a handful of proposals.
// It must not touch task observed state (Status), node assignment
// (scheduler), addresses (allocator) or anything outside the store; it never
// calls other components.
//
// One goroutine (Run) owns all mutable state: the restart history (kept in
// memory, like swarm mode's restart supervisor, so it is lost on leader
// change), when each task was first seen RUNNING (monitor windows restart
// on a new leader) and the set of services to reconcile.
//
// A pass plans only the services an event can affect: a service's own
// change, its tasks ending or created by someone else, and, for a node's
// change (state, availability, role, labels, kinds, joining or leaving),
// every global service and, when the node became unavailable or available
// again, joined or left, the services with tasks on it — a replicated
// service reads a node only through that. The cluster object and the start
// of each watch re-plan everything. Passes are paced by their cost: after
// one that took d the next waits 3d (at most 2 s), gathering the events
// meanwhile, so a big service's passes never run back to back (pace).
package orchestrator
