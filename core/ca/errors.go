package ca

import "errors"

// Sentinel errors. Functions wrap them with %w and a message naming what is
// wrong; test with errors.Is.
var (
	// ErrInvalidRoot reports a root certificate or key that cannot be used
	// as a cluster root.
	ErrInvalidRoot = errors.New("ca: invalid root CA")
	// ErrNoSigningKey reports an attempt to sign with a certificate-only root.
	ErrNoSigningKey = errors.New("ca: root CA has no private key")
	// ErrInvalidCSR reports a certificate signing request that cannot be
	// parsed, has a bad signature or an unsupported key.
	ErrInvalidCSR = errors.New("ca: invalid certificate signing request")
	// ErrInvalidIdentity reports a certificate whose subject does not carry
	// a valid shoal identity, or an invalid node ID, cluster ID or role.
	ErrInvalidIdentity = errors.New("ca: invalid identity")
	// ErrClusterMismatch reports a certificate or request for another cluster.
	ErrClusterMismatch = errors.New("ca: cluster ID mismatch")
	// ErrInvalidToken reports a join token that cannot be parsed.
	ErrInvalidToken = errors.New("ca: invalid join token")
	// ErrTokenRejected reports a well-formed join token whose secret matches
	// neither of the cluster's current tokens.
	ErrTokenRejected = errors.New("ca: join token rejected")
	// ErrDigestMismatch reports a root certificate whose digest differs from
	// the digest pinned by a join token.
	ErrDigestMismatch = errors.New("ca: root CA digest does not match join token")
	// ErrUntrustedServer reports a bootstrap server whose TLS certificate is
	// not issued by the root it served.
	ErrUntrustedServer = errors.New("ca: server certificate not issued by its root CA")
	// ErrInvalidNodeTLS reports node TLS files that are malformed or do not
	// belong together.
	ErrInvalidNodeTLS = errors.New("ca: invalid node TLS files")
)
