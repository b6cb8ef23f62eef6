package ca

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"
)

// RootFetcher fetches the cluster's root certificate (PEM) from a manager
// over a connection made with cfg, for example by building an HTTP
// transport from cfg and calling CAService.GetRootCACertificate. It must use
// cfg for its connection and must send nothing secret: cfg does not verify
// the server.
type RootFetcher func(ctx context.Context, cfg *tls.Config) (rootPEM []byte, err error)

// FetchRootVerified is a joiner's first contact with a cluster. It calls
// fetch exactly once, over a TLS configuration that verifies nothing (the
// joiner trusts nothing yet), then accepts the root only if its digest
// equals the one pinned by token ([ErrDigestMismatch] otherwise) and the
// server that sent it presented a certificate issued by that root
// ([ErrUntrustedServer] otherwise). It returns the certificate-only root;
// the caller then builds [ClientTLSConfig] from it for the call that
// carries the token's secret.
func FetchRootVerified(ctx context.Context, token string, fetch RootFetcher) (*RootCA, error) {
	tok, err := ParseJoinToken(token)
	if err != nil {
		return nil, err
	}
	var (
		mu   sync.Mutex
		peer []*x509.Certificate
	)
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: append([]string(nil), nextProtos...),
		// The one place shoal skips verification: the root is checked
		// against the token's digest below, before anything secret is sent.
		InsecureSkipVerify: true, //nolint:gosec // verified by digest below
		VerifyConnection: func(cs tls.ConnectionState) error {
			mu.Lock()
			defer mu.Unlock()
			peer = cs.PeerCertificates
			return nil
		},
	}
	rootPEM, err := fetch(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("ca: fetch root CA: %w", err)
	}
	root, err := ParseRootCA(rootPEM, nil)
	if err != nil {
		return nil, err
	}
	if !CheckSecret(tok.CADigest, root.Digest()) {
		return nil, fmt.Errorf("%w: token pins %s, server sent a root with digest %s", ErrDigestMismatch, tok.CADigest, root.Digest())
	}
	mu.Lock()
	serverChain := peer
	mu.Unlock()
	if len(serverChain) == 0 {
		return nil, fmt.Errorf("%w: no server certificate seen (the fetch must connect with the given TLS config)", ErrUntrustedServer)
	}
	inter := x509.NewCertPool()
	for _, c := range serverChain[1:] {
		inter.AddCert(c)
	}
	if _, err := serverChain[0].Verify(x509.VerifyOptions{
		Roots:         root.Pool(),
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUntrustedServer, err)
	}
	return root, nil
}
