// Package runtime defines the contract between the node agent and the executor
// backends that run tasks: Backend (one per node) hands out a Controller per
// task, which prepares, starts, waits for, stops, inspects, streams logs of and
// removes that task.
//
// This package owns only the interface, the task spec the agent fills in, and
// the sentinel errors callers test with errors.Is. It holds no implementation
// and imports nothing of core, plugins or gen. Implementations live in
// sub-packages: runtime/containerd (OCI images through containerd),
// runtime/process (plain host processes that survive agent restarts) and
// runtime/sim (simulated tasks for scale tests).
package runtime
