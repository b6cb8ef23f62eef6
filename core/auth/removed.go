package auth

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
)

// ErrNodeRemoved is the condition of a node whose certificate the cluster
// revoked with `shoal node rm`: every call it makes fails with it.
var ErrNodeRemoved = errors.New("node was removed from the cluster")

// removedReason marks ErrNodeRemoved in the error's details, so a node can
// tell it from other PermissionDenied answers across the wire.
const removedReason = "NODE_REMOVED"

const errorDomain = "shoal.v1"

// NodeRemovedError is the API error for a call from removed node nodeID:
// PermissionDenied, with an ErrorInfo detail a node recognises with
// IsNodeRemoved.
func NodeRemovedError(nodeID string) *connect.Error {
	err := connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%w: node %s; join again with a new token", ErrNodeRemoved, nodeID))
	if d, derr := connect.NewErrorDetail(&errdetails.ErrorInfo{Reason: removedReason, Domain: errorDomain}); derr == nil {
		err.AddDetail(d)
	}
	return err
}

// IsNodeRemoved reports whether err (returned by a call to a manager) says
// the calling node was removed from the cluster.
func IsNodeRemoved(err error) bool {
	if errors.Is(err, ErrNodeRemoved) {
		return true
	}
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodePermissionDenied {
		return false
	}
	for _, d := range ce.Details() {
		v, err := d.Value()
		if err != nil {
			continue
		}
		if info, ok := v.(*errdetails.ErrorInfo); ok && info.GetReason() == removedReason && info.GetDomain() == errorDomain {
			return true
		}
	}
	return false
}

// NewRemovedInterceptor refuses, with NodeRemovedError, every call whose
// caller's certificate names a node removed(nodeID) reports as removed.
// Local admin calls and calls without a node identity pass. removed is
// called on every RPC (agents' heartbeats too): keep it cheap.
func NewRemovedInterceptor(removed func(nodeID string) bool) connect.Interceptor {
	return removedInterceptor{removed}
}

type removedInterceptor struct{ removed func(string) bool }

func (r removedInterceptor) check(ctx context.Context) error {
	id, ok := FromContext(ctx)
	if !ok || id.NodeID == "" || id.Local || !r.removed(id.NodeID) {
		return nil
	}
	return NodeRemovedError(id.NodeID)
}

func (r removedInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if err := r.check(ctx); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (r removedInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (r removedInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if err := r.check(ctx); err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
