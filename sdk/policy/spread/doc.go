// Package spread is the reference spread scheduler, with SwarmKit's
// semantics: filter the nodes (ready, active, kind, constraints, resources,
// max replicas per node), spread over the values of each placement
// preference label in turn, then choose the node with the fewest tasks of the
// service, then the fewest tasks overall, ties by node index.
//
// It runs in O(nodes + tasks x log nodes) per group: nodes sit in heaps
// keyed by (service tasks, total tasks, index), never scanned per task. It is
// a pure function used natively by the manager and compiled into the
// built-in spread Wasm guest.
package spread
