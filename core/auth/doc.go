// Package auth is the one place shoal decides who may call what on its
// mutual-TLS port.
//
// Two pieces, installed once per server:
//
//   - [Middleware] wraps the HTTP handler. It turns the TLS stack's verified
//     client certificate into an [Identity] in the request context (or marks
//     the request as anonymous), treats a connection from the local admin
//     unix socket as the admin ([LocalAdminConnContext]), and honours the
//     forwarding headers only when the immediate peer is a manager.
//   - [NewInterceptor] is a connect.Interceptor (unary and streaming,
//     handler side) that checks each procedure against a [Policy]: the
//     roles allowed per service or procedure, and the procedures that need
//     no certificate. [DefaultPolicy] is shoal's.
//   - [NewRemovedInterceptor] refuses the certificates of nodes the cluster
//     removed with [NodeRemovedError]; a node recognises that answer with
//     [IsNodeRemoved] and leaves.
//
// Handlers read the caller with [FromContext]; they never look at TLS state
// or headers themselves.
//
// This package must not verify certificates (crypto/tls does, configured by
// core/ca), must not import the store, Raft or generated services, and keeps
// no state: a Policy is copied when an interceptor is built.
package auth
