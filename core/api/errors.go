package api

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/shoal-project/shoal/core/raft"
	"github.com/shoal-project/shoal/core/store"
)

func invalidArg(format string, args ...any) error {
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(format, args...))
}

func notFound(format string, args ...any) error {
	return connect.NewError(connect.CodeNotFound, fmt.Errorf(format, args...))
}

// Kinds of objects a NotFound names, in its ResourceInfo detail.
const (
	KindService = "service"
	KindNode    = "node"
	KindPlugin  = "plugin"
	KindTask    = "task"
)

// objectNotFound is the NotFound for the object of kind called ref: its
// message names the object, and a ResourceInfo detail carries kind and ref
// so a client can say what to do next in its own words.
func objectNotFound(kind, ref string) error {
	return notFoundDetail(kind, ref, fmt.Sprintf("%s %q not found", kind, ref))
}

// notFoundDetail is a NotFound with msg and a ResourceInfo detail.
func notFoundDetail(kind, ref, msg string) error {
	err := connect.NewError(connect.CodeNotFound, errors.New(msg))
	if d, derr := connect.NewErrorDetail(&errdetails.ResourceInfo{ResourceType: kind, ResourceName: ref}); derr == nil {
		err.AddDetail(d)
	}
	return err
}

func precondition(format string, args ...any) error {
	return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf(format, args...))
}

// storeErr maps store and raft errors to one Connect code.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return err
	}
	switch {
	case errors.Is(err, store.ErrNotExist):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, store.ErrExist), errors.Is(err, store.ErrNameConflict):
		return connect.NewError(connect.CodeAlreadyExists, err)
	case errors.Is(err, store.ErrSequenceConflict):
		return connect.NewError(connect.CodeAborted, fmt.Errorf("%w: read the object again and retry", err))
	case errors.Is(err, store.ErrAmbiguousPrefix):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, raft.ErrNotLeader):
		return connect.NewError(connect.CodeUnavailable, fmt.Errorf("no leader reachable yet (election in progress?): %w", err))
	case errors.Is(err, raft.ErrLeadershipLost):
		return connect.NewError(connect.CodeUnavailable, fmt.Errorf("%w: the write's outcome is unknown; read it back, or retry if it is idempotent", err))
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	}
	return connect.NewError(connect.CodeInternal, err)
}
