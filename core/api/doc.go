// Package api implements the ControlService (the user API) and the
// CAService on a manager. Every handler validates its input, reads through a
// linearizable barrier (Raft ReadIndex on the leader) and writes through the
// replicated store; errors leave here as one Connect code with a message
// naming the field and the fix. Messages speak the API, never a client's
// commands: a NotFound names the object (`service "x" not found`) and
// carries an errdetails.ResourceInfo with its kind, from which a client
// such as cmd/shoal words its own hint.
//
// It must not run leader components or touch Raft internals: it sees the
// Raft group through the small Cluster interface.
package api
