package store

import "errors"

var (
	// ErrExist is returned when creating an object whose ID already exists.
	ErrExist = errors.New("store: object already exists")
	// ErrNotExist is returned when updating, removing or resolving an object that does not exist.
	ErrNotExist = errors.New("store: object does not exist")
	// ErrSequenceConflict is returned when an update or removal names a stale Meta.Version.
	ErrSequenceConflict = errors.New("store: update out of sequence (stale version)")
	// ErrNameConflict is returned when a unique name (service, network, cluster) is taken by another object.
	ErrNameConflict = errors.New("store: name conflicts with an existing object")
	// ErrAmbiguousPrefix is returned by Resolve when an ID prefix matches several objects.
	ErrAmbiguousPrefix = errors.New("store: ambiguous ID prefix")
	// ErrInvalidObject is returned for nil objects, unknown object types and empty IDs.
	ErrInvalidObject = errors.New("store: invalid object")
	// ErrInvalidFindBy is returned when a By selector does not apply to the object kind.
	ErrInvalidFindBy = errors.New("store: selector not supported for this kind")
	// ErrInvalidPayload is returned by Apply for a payload that is not a valid StoreRequest.
	ErrInvalidPayload = errors.New("store: invalid payload")
	// ErrInvalidSnapshot is returned by Restore for data that is not a valid StoreSnapshot.
	ErrInvalidSnapshot = errors.New("store: invalid snapshot")
	// ErrStaleIndex is returned by Apply for an index not above the last applied one.
	ErrStaleIndex = errors.New("store: entry index already applied")
	// ErrTxClosed is returned when a Tx is used after its callback returned.
	ErrTxClosed = errors.New("store: transaction used after its callback returned")
	// ErrWatcherFellBehind ends a watcher whose queue exceeded its limit.
	ErrWatcherFellBehind = errors.New("store: watcher fell behind; resync with ViewAndWatch")
	// ErrRestored ends every watcher when the state is replaced by a snapshot.
	ErrRestored = errors.New("store: state restored from snapshot; resync with ViewAndWatch")
	// ErrStoreClosed ends every watcher when the store is closed.
	ErrStoreClosed = errors.New("store: closed")
	// ErrNoProposer is returned by writes on a store built without a Proposer.
	ErrNoProposer = errors.New("store: no proposer")
)
