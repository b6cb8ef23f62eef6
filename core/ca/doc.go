// Package ca owns shoal's cluster public-key infrastructure: the cluster's
// root certificate authority, node certificates and the identity they carry,
// join tokens, the TLS configurations every node uses on its single mutual
// TLS port, the joiner's trust-on-first-use bootstrap that pins the root by
// the digest in its join token, and the node's key and certificate files.
//
// Trust model:
//
//   - Each cluster has one ECDSA P-256 self-signed root (10 years). Every TLS
//     configuration built here trusts that root and nothing else: no system
//     roots, so a certificate from another cluster's CA fails the handshake.
//   - A node certificate names the node in its subject: CN is the node ID, OU
//     is its role (manager, worker or admin) and O is the cluster ID. The
//     DNS name "shoal-<role>" is added as a SAN so that a client can insist
//     on reaching a manager by dialing with server name [ManagerServerName].
//   - A join token "SHOAL-1-<CA digest>-<secret>" pins the root: the joiner
//     fetches the root over an unverified connection, compares its digest
//     with the token's and only then, over a connection verified against that
//     root, sends the secret. Secrets are compared in constant time.
//
// This package does cryptography and encoding only. It must not import the
// store, Raft, the API layer or generated protobuf code: the CAService RPC
// that carries roots and CSRs lives in core/api and calls into this package,
// and request-level enforcement of roles lives in core/auth.
package ca
