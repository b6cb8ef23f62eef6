package ca

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"time"
)

// nextProtos is what every shoal listener and client offers: HTTP/2 for
// gRPC and Connect streaming, HTTP/1.1 for Connect unary and gRPC-web.
var nextProtos = []string{"h2", "http/1.1"}

// ServerTLSConfig is the configuration of a node's single mutual-TLS port.
// It presents cert, speaks TLS 1.3 only, offers h2 and http/1.1, and
// verifies a client certificate if one is given against root alone (no
// system roots), so a certificate from another cluster's CA fails the
// handshake. Clients without a certificate are let through the handshake;
// core/auth decides per procedure whether that is allowed.
func ServerTLSConfig(root *RootCA, cert tls.Certificate) *tls.Config {
	return ServerTLSConfigFromHolder(TrustRoot(root), NewCertHolder(cert))
}

// ServerTLSConfigFromHolder is ServerTLSConfig presenting whatever
// certificate h holds and verifying clients against whatever roots trust
// holds at each handshake, so a renewed certificate or a root rotation
// takes effect without restarting the listener.
func ServerTLSConfigFromHolder(trust *Trust, h *CertHolder) *tls.Config {
	base := &tls.Config{
		MinVersion:       tls.VersionTLS13,
		NextProtos:       append([]string(nil), nextProtos...),
		ClientAuth:       tls.VerifyClientCertIfGiven,
		VerifyConnection: verifyPeerCluster(trust.ClusterID()),
		GetCertificate:   func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return h.Get(), nil },
	}
	cfg := base.Clone()
	cfg.ClientCAs = trust.Pool()
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.ClientCAs = trust.Pool()
		return c, nil
	}
	return cfg
}

// ClientTLSConfig is a node's or admin's configuration for calling another
// node: it trusts root alone, checks the server's certificate against
// serverName (use [ManagerServerName] to insist on a manager; empty means
// the dialed host), and presents cert if it is not nil, whatever CAs the
// server says it accepts.
func ClientTLSConfig(root *RootCA, cert *tls.Certificate, serverName string) *tls.Config {
	if cert == nil {
		return clientTLSConfig(TrustRoot(root), serverName)
	}
	return ClientTLSConfigFromHolder(TrustRoot(root), NewCertHolder(*cert), serverName)
}

// ClientTLSConfigFromHolder is ClientTLSConfig presenting whatever
// certificate h holds and trusting whatever roots trust holds at each
// handshake.
func ClientTLSConfigFromHolder(trust *Trust, h *CertHolder, serverName string) *tls.Config {
	cfg := clientTLSConfig(trust, serverName)
	// Always present the certificate, even if the server's list of
	// acceptable CAs does not name its issuer: a node holding a certificate
	// from the wrong CA must fail the handshake loudly rather than be
	// silently downgraded to an anonymous caller.
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return h.Get(), nil }
	return cfg
}

// clientTLSConfig verifies the server itself, in VerifyConnection, because
// the roots it trusts change during a root rotation and tls.Config has no
// hook for a client's roots. The server name checked is serverName, else
// the dialed host name; a dialed IP address is not sent in SNI, so a
// server reached by IP is checked for its chain and cluster only (as
// SwarmKit's nodes, which check the role name rather than the address).
func clientTLSConfig(trust *Trust, serverName string) *tls.Config {
	inCluster := verifyPeerCluster(trust.ClusterID())
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ServerName: serverName,
		NextProtos: append([]string(nil), nextProtos...),
		// Verified in VerifyConnection against the current roots.
		InsecureSkipVerify: true, //nolint:gosec // verified below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: server sent no certificate", ErrInvalidIdentity)
			}
			name := serverName
			if name == "" {
				name = cs.ServerName
			}
			if err := trust.VerifyChain(cs.PeerCertificates, x509.ExtKeyUsageServerAuth, name, time.Time{}); err != nil {
				return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
			}
			return inCluster(cs)
		},
	}
}

// CertHolder holds a node's current key pair for TLS configurations built
// from it. Set replaces it after a renewal; handshakes already under way
// keep the old one. Safe for concurrent use.
type CertHolder struct {
	p atomic.Pointer[tls.Certificate]
}

// NewCertHolder returns a holder for cert.
func NewCertHolder(cert tls.Certificate) *CertHolder {
	h := &CertHolder{}
	h.Set(cert)
	return h
}

// Set makes cert the one presented from the next handshake on.
func (h *CertHolder) Set(cert tls.Certificate) { h.p.Store(&cert) }

// Get returns the current certificate. Do not modify it.
func (h *CertHolder) Get() *tls.Certificate { return h.p.Load() }

// verifyPeerCluster runs after chain verification and rejects a peer
// certificate that does not name a valid identity in clusterID. A peer
// without a certificate (a server's client that sent none) passes.
func verifyPeerCluster(clusterID string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return nil
		}
		id, err := IdentityFromCert(cs.PeerCertificates[0])
		if err != nil {
			return err
		}
		if id.ClusterID != clusterID {
			return fmt.Errorf("%w: peer certificate names cluster %q, want %q", ErrClusterMismatch, id.ClusterID, clusterID)
		}
		return nil
	}
}
