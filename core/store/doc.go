// Package store is shoal's replicated in-memory cluster state.
//
// It owns the whole cluster state of a manager (clusters, nodes, services,
// tasks, networks, plugin modules, secrets and configs) held in memory with secondary indexes,
// read transactions (View), write transactions (Update, Batch) that become one
// Raft entry each, the watch queue that announces applied changes, and the
// Raft state machine (Apply, Snapshot, Restore) that makes every manager hold
// the same state. It must not touch the Raft log, the network, the disk or
// any other component: it only talks to a Proposer (core/raft's *Node in
// production, a MemoryProposer in tests).
//
// # Objects and ownership
//
// Stored objects are immutable: Apply replaces them as a whole and never
// changes one in place, so no read or write copies them. Every read
// (Get*, Find*, Get, Find, Range) and every Event hands out the stored
// objects themselves, shared and read-only: to change one, copy it
// (proto.CloneOf, or ShallowCopy and then replace, never change, the
// sub-messages it shares) and Update with the copy. Tx.Create and
// Tx.Update keep the object they are given (the caller hands it over and
// must not touch it again); Update refuses the very object a read returned
// (ErrInvalidObject). On the leader an entry is applied from those same
// objects (ApplyDecoded: the proposer keeps the request beside its bytes),
// so a write is marshalled once and never decoded there; followers and
// replays decode the payload, with the same result.
//
// WithMutationCheck (on by default under -race, and in storetest) guards
// the rule: the store fingerprints each object it stores and reports
// ErrMutated from VerifyUnchanged, or when the object is replaced or
// removed, if it changed in place.
//
// # Writes
//
// Update runs fn against a Tx that sees the store plus its own uncommitted
// writes, then proposes all its changes as ONE StoreRequest. Writers on one
// store are serialised by an update lock held across propose-and-wait, so the
// leader's writers never conflict with each other. Apply re-checks everything
// (Create of an existing ID -> ErrExist, Update/Remove of a missing object ->
// ErrNotExist, stale Meta.Version -> ErrSequenceConflict, duplicate unique
// name -> ErrNameConflict); an entry applies all-or-nothing and
// deterministically. Apply sets Meta.Version to the entry's Raft index; the
// timestamps come from the proposer's clock inside the payload.
//
// Tx reads are "read committed": each read sees the latest applied state plus
// the Tx's own writes; version checks at Apply make any write based on a
// stale read of that object fail.
//
// # Batches
//
// Batch packs many small transactions (b.Update) into few entries: it
// proposes whenever the pending changes reach MaxChangesPerProposal (default
// 1000) or an estimated MaxProposalBytes (default 1 MiB), and at the end. One
// b.Update is never split, so an entry may exceed the byte estimate by the
// size of its last b.Update. A failing b.Update drops only its own changes.
//
// # Cost
//
// The state is plain Go maps (one per kind plus one per secondary index)
// guarded by one RWMutex; results are sorted by ID for determinism. Reads
// copy nothing: FindTasks of 100,000 tasks costs the lookup and the sort.
// Each object sits in a cell that the kind's map and its index entries
// share, so replacing an object touches only the indexes whose key it
// changes (a placement moves a task's node and state keys, not its
// service, slot or desired-state entries). A Batch sizes each object once
// for its byte limit and marshals the proposal with those cached sizes.
//
// # Memory
//
// An index key holds its one object inline and makes a map only for a
// second (objSet: the slot index has a key per task). The tasks of a
// service share its TaskSpec: the leader's components hand the service's
// own spec to new tasks and copy tasks shallowly, and the store makes a
// task it decodes (a follower's entry, a replay, a snapshot) share the spec
// of its service's other tasks when the encodings are equal, and the ID
// strings of the objects it names (shareDecoded). BenchmarkStoreMemory
// reports the heap per stored task on both sides.
//
// # Locks (read before calling from inside callbacks)
//
// View holds the store's read lock while fn runs: do not call Update, Batch,
// View or Apply from inside a View callback. Update and Batch hold the update
// lock while fn runs: do not call Update or Batch from inside them (View is
// fine).
//
// # Watching
//
// Watch/ViewAndWatch subscribe to events. After each successfully applied
// entry every watcher receives the entry's Create/Update/Remove events in
// action order followed by EventCommit{Index}. Each watcher has its own queue
// drained by its own goroutine, so a slow watcher never blocks Apply; when a
// watcher's queue exceeds its limit (WithWatchQueueLimit) the queue is dropped
// and the watcher receives one EventResync with Err = ErrWatcherFellBehind,
// then its channel is closed. Restore delivers EventResync with Err =
// ErrRestored (after the events already queued) and closes the channel; Close
// does the same with ErrStoreClosed. A closed channel you did not cancel
// means: read the state again with ViewAndWatch.
//
// ViewAndWatchNode subscribes to one node's events (the node and the tasks
// on it before or after a change) as a NodeWatch. publish routes those by
// node and applies the watch's filters as it routes, so a thousand such
// watchers cost an entry only the ones it has events for; commit markers
// reach them only for entries that had such events. A NodeWatch has no
// goroutine or channel of events: its reader waits on Ready and takes all
// that is queued with Take (whole entries; after the end, one
// EventResync).
package store
