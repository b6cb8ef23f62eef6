// Package taskspec answers what several components ask of a task spec, in
// one place: which kind of runtime a task needs (the orchestrator and the
// scheduler match it with the kinds a node's backend runs, the agent picks
// its translation by it), and whether a task runs its service's current
// spec (the orchestrator's updater and the CLI's progress). It imports only
// the generated API types, protobuf and the runtime's kind names; it holds
// no state.
package taskspec
