// Package httpclient builds the HTTP clients that carry shoal's RPCs: HTTP/2
// over TLS to a node's port, and unencrypted HTTP/2 over a manager's admin
// unix socket. The TLS configuration itself comes from core/ca; this package
// only puts it on a transport.
//
// It is a leaf under internal/ rather than part of core/ca because both sides
// need it: core (node, bench) dials other nodes with it, and the CLI's dialer
// (internal/client) dials a manager with it, and that dialer must import
// nothing of core. core/ca stays cryptography and encoding only. It must not
// import anything of shoal.
package httpclient
