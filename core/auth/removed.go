package auth

import (
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
