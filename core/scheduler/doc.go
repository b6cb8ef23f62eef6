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
// Passes are debounced: events only arm a timer, so a burst of 100,000
// pending tasks is one pass. One goroutine (Run) owns all mutable state.
// It must not change anything but a pending task's node, status and
// scheduler fields, and never calls other components.
package scheduler
