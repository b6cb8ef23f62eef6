// Package allocator moves NEW tasks to PENDING on the Raft leader.
//
// It owns network resources: an address on each of its service's networks
// for every task, a virtual IP per network for every service (in
// Service.endpoint.virtual_ips; dropped when the service leaves the
// network), and dynamic published ports (30000-32767 by default) for
// service ports with published_port 0, recorded in Service.endpoint and
// copied into each task's endpoint; and each node's own address on the
// ingress network (Node.attachments, NodePass), where its routing mesh
// answers. The choices are made by a Policy (the
// native one wraps sdk/policy/ipam; the Wasm plugin host plugs in as
// another) over a batch request built from the store: the networks with the
// addresses held by tasks that have not stopped and by VIPs, and the ports already
// published. Answers are validated (counts, addresses inside the subnet and
// free, ports inside the range and free); a failing or invalid policy is
// redone by the native one. A task whose allocation fails stays NEW with
// Status.Err saying why, and is retried when networks, services or tasks
// change, or after a retry interval.
//
// Passes are debounced and written with one store.Batch. It must not touch
// desired state, slots or node assignment, and never calls other
// components. One goroutine (Run) owns its state.
package allocator
