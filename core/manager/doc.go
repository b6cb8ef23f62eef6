// Package manager runs a shoal manager: the Raft node and its transport, the
// replicated store, the node's TLS listener and admin socket with every
// service on one handler (Connect, gRPC, gRPC-web), forwarding of leader-only
// calls, and the leader-only pipeline (orchestrator, allocator, scheduler,
// dispatcher) started and stopped as leadership comes and goes.
//
// It wires components together; it must not hold their logic. Components
// never call each other: they watch the store and write back through it.
package manager
