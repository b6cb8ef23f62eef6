package auth

import (
	"context"
	"fmt"

	"github.com/shoal-project/shoal/core/ca"
)

// Identity is the effective caller of a request.
type Identity struct {
	NodeID    string
	ClusterID string
	Role      ca.Role
	// Local is set for the admin on this machine's unix socket.
	Local bool
	// ForwardedBy is the node ID of the manager that forwarded this request
	// on the caller's behalf; empty for a direct call.
	ForwardedBy string
}

// String describes the identity for logs and error messages.
func (id Identity) String() string {
	s := string(id.Role)
	switch {
	case id.Local:
		s += " (local)"
	case id.NodeID != "":
		s += " " + id.NodeID
	}
	if id.ForwardedBy != "" {
		s += " via manager " + id.ForwardedBy
	}
	return s
}

type identityKey struct{}

// callerState is what the middleware stored: an identity, or why there is
// none.
type callerState struct {
	id     Identity
	ok     bool
	reason string
}

// WithIdentity returns ctx carrying id as the effective caller. The
// middleware calls it; tests and in-process callers may too.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, callerState{id: id, ok: true})
}

// withAnonymous marks ctx as carrying no identity, for the given reason.
// It also hides any identity an outer context carried.
func withAnonymous(ctx context.Context, format string, args ...any) context.Context {
	return context.WithValue(ctx, identityKey{}, callerState{reason: fmt.Sprintf(format, args...)})
}

// FromContext returns the effective caller, if the request has one.
func FromContext(ctx context.Context) (Identity, bool) {
	st, _ := ctx.Value(identityKey{}).(callerState)
	return st.id, st.ok
}

// anonymousReason explains why ctx has no identity.
func anonymousReason(ctx context.Context) string {
	st, found := ctx.Value(identityKey{}).(callerState)
	if !found {
		return "no caller identity in context (is auth.Middleware installed?)"
	}
	return st.reason
}
