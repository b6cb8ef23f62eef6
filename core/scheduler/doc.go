// Package scheduler places PENDING tasks on nodes on the Raft leader.
//
// It owns the step PENDING -> ASSIGNED: it gathers the pending tasks,
// groups them by (service, spec version[, preset node]), builds the node
// table (readiness, availability, resources total and free after the tasks
// already assigned and not terminal, labels, task counts per service, task
// kinds the node runs), asks a placement Policy for the whole batch at
// once, validates every answer (index in range, node ready and active, kind
// supported, resources fit counting earlier placements of the pass,
// constraints hold, max replicas per node) and commits the placements in
// one store.Batch. A policy that errors or answers invalidly counts as a
// failure: the pass falls back to the native spread policy. Tasks that fit
// nowhere stay PENDING with Status.Err saying why, counted per reason
// ("no suitable node: 2 nodes lack memory, 1 drained").
//
// Policies are chosen per service (ServiceSpec.scheduler, else the cluster's
// default_scheduler, else "spread") through a PolicySource; the native
// "spread" and "binpack" are always available, and the Wasm plugin host
// plugs in as another PolicySource.
//
// The scheduler keeps the node table and the pending groups between
// passes, following the store's events (tracker.go): a pass catches up
// with the events published so far (store.PublishedIndex) instead of
// reading 100,000 tasks. It reads the whole store when it starts (each
// term of leadership runs Run anew; a direct Pass starts it too) and when
// it cannot trust its copy (its watch fell behind, a snapshot was
// restored, an event contradicts it). The table's rows carry stamps
// (internal/rowstamp) passed to the policy call's context, so the plugin
// host compares only the rows changed since the table its guest holds.
// Commits write 100 tasks per store.Batch transaction.
//
// Passes are debounced: events only arm a timer, so a burst of 100,000
// pending tasks is one pass. One goroutine (Run) owns all mutable state.
// It must not change anything but a pending task's node, status and
// scheduler fields, and never calls other components.
package scheduler
