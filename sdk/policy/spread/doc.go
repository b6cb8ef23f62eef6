// Package spread is the reference spread scheduler, with SwarmKit's
// semantics: filter the nodes (ready, active, kind, constraints, resources,
// max replicas per node), spread over the values of each placement
// preference label in turn, then choose the node with the fewest tasks of the
// service, then the fewest tasks overall, ties by node index.
//
// It runs in O(nodes + tasks x log nodes) per group: nodes sit in heaps
// keyed by (service tasks, total tasks, index); a group of at most four
// tasks without preferences scans the nodes once per task instead. Schedule
// is a pure function used natively by the manager; the built-in spread Wasm
// guest runs Kept, the same policy keeping its per-node state between calls
// (refreshed for the rows that changed), with the same answers.
package spread
