package auth

import (
	"context"
	"crypto/tls"
	"net/http"

	"github.com/shoal-project/shoal/core/ca"
)

// Forwarding headers. A manager that forwards a request to the leader sets
// them to the original caller; the receiving middleware honours them only
// when the immediate peer presents a manager certificate.
const (
	HeaderForwardedRole = "Shoal-Forwarded-Role"
	HeaderForwardedNode = "Shoal-Forwarded-Node"
	// ForwardedRoleNone is the forwarded role of an anonymous caller (one
	// without a certificate), so that forwarding never upgrades it to the
	// forwarding manager's identity.
	ForwardedRoleNone = "none"
)

// SetForwardedHeaders writes the forwarding headers for the effective
// caller (id, ok) as FromContext returned them, for a manager forwarding a
// request.
func SetForwardedHeaders(h http.Header, id Identity, ok bool) {
	if !ok {
		h.Set(HeaderForwardedRole, ForwardedRoleNone)
		h.Del(HeaderForwardedNode)
		return
	}
	h.Set(HeaderForwardedRole, string(id.Role))
	if id.NodeID != "" {
		h.Set(HeaderForwardedNode, id.NodeID)
	} else {
		h.Del(HeaderForwardedNode)
	}
}

// Middleware puts the effective caller in each request's context (see
// FromContext) and strips the forwarding headers before calling next:
//
//   - TLS with a verified client certificate: the identity it names.
//   - TLS without one: anonymous.
//   - No TLS on a connection marked by WithLocalAdmin: the local admin.
//   - No TLS otherwise: anonymous.
//   - If the peer is a manager and the request carries
//     Shoal-Forwarded-Role, the forwarded caller instead; from any other
//     peer those headers are ignored.
//
// It rejects nothing itself; the interceptor does, per procedure.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fwdRole, hasFwd := r.Header[HeaderForwardedRole]
		fwdNode := r.Header.Get(HeaderForwardedNode)
		r.Header.Del(HeaderForwardedRole)
		r.Header.Del(HeaderForwardedNode)

		ctx := r.Context()
		peer, ok, reason := peerIdentity(r)
		switch {
		case !ok:
			ctx = withAnonymous(ctx, "%s", reason)
		case hasFwd && peer.Role == ca.RoleManager:
			ctx = forwardedContext(ctx, peer, fwdRole, fwdNode)
		default:
			ctx = WithIdentity(ctx, peer)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// peerIdentity is the immediate peer of r.
func peerIdentity(r *http.Request) (Identity, bool, string) {
	if r.TLS == nil {
		if isLocalAdmin(r.Context()) {
			return Identity{Role: ca.RoleAdmin, Local: true}, true, ""
		}
		return Identity{}, false, "connection is neither TLS nor the local admin socket"
	}
	return IdentityFromTLS(r.TLS)
}

// IdentityFromTLS is the identity a verified client certificate on a TLS
// connection names (ok false, and why, when there is none): what
// Middleware gives a request, for a connection served outside net/http's
// handlers (the direct Raft path, core/raft/transport).
func IdentityFromTLS(cs *tls.ConnectionState) (id Identity, ok bool, reason string) {
	if len(cs.PeerCertificates) == 0 {
		return Identity{}, false, "no client certificate"
	}
	if len(cs.VerifiedChains) == 0 {
		// The server's tls.Config did not verify the certificate
		// (ClientAuth must be VerifyClientCertIfGiven or stricter).
		return Identity{}, false, "client certificate was not verified by the TLS stack"
	}
	cid, err := ca.IdentityFromCert(cs.PeerCertificates[0])
	if err != nil {
		return Identity{}, false, "client certificate carries no shoal identity: " + err.Error()
	}
	return Identity{NodeID: cid.NodeID, ClusterID: cid.ClusterID, Role: cid.Role}, true, ""
}

// forwardedContext builds the context for a request a manager forwarded.
// The forwarded caller belongs to the manager's cluster. A malformed
// forwarded role makes the request anonymous rather than letting it run
// with the manager's rights.
func forwardedContext(ctx context.Context, manager Identity, roleValues []string, node string) context.Context {
	if len(roleValues) != 1 {
		return withAnonymous(ctx, "manager %s sent %d %s headers, want 1", manager.NodeID, len(roleValues), HeaderForwardedRole)
	}
	if roleValues[0] == ForwardedRoleNone {
		return withAnonymous(ctx, "no client certificate (request forwarded by manager %s)", manager.NodeID)
	}
	role, err := ca.ParseRole(roleValues[0])
	if err != nil {
		return withAnonymous(ctx, "manager %s forwarded an invalid role: %v", manager.NodeID, err)
	}
	return WithIdentity(ctx, Identity{
		NodeID:      node,
		ClusterID:   manager.ClusterID,
		Role:        role,
		ForwardedBy: manager.NodeID,
	})
}
