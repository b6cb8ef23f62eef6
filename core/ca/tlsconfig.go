package ca

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
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
	cfg := serverTLSConfig(root)
	cfg.Certificates = []tls.Certificate{cert}
	return cfg
}

// ServerTLSConfigFromHolder is ServerTLSConfig presenting whatever
// certificate h holds at each handshake, so a renewed certificate takes
// effect without restarting the listener.
func ServerTLSConfigFromHolder(root *RootCA, h *CertHolder) *tls.Config {
	cfg := serverTLSConfig(root)
	cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return h.Get(), nil }
	return cfg
}

func serverTLSConfig(root *RootCA) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		NextProtos:       append([]string(nil), nextProtos...),
		ClientAuth:       tls.VerifyClientCertIfGiven,
		ClientCAs:        root.Pool(),
		VerifyConnection: verifyPeerCluster(root.ClusterID()),
	}
}

// ClientTLSConfig is a node's or admin's configuration for calling another
// node: it trusts root alone, checks the server's certificate against
// serverName (use [ManagerServerName] to insist on a manager; empty means
// the dialed host), and presents cert if it is not nil, whatever CAs the
// server says it accepts.
func ClientTLSConfig(root *RootCA, cert *tls.Certificate, serverName string) *tls.Config {
	if cert == nil {
		return clientTLSConfig(root, serverName)
	}
	return ClientTLSConfigFromHolder(root, NewCertHolder(*cert), serverName)
}

// ClientTLSConfigFromHolder is ClientTLSConfig presenting whatever
// certificate h holds at each handshake.
func ClientTLSConfigFromHolder(root *RootCA, h *CertHolder, serverName string) *tls.Config {
	cfg := clientTLSConfig(root, serverName)
	// Always present the certificate, even if the server's list of
	// acceptable CAs does not name its issuer: a node holding a certificate
	// from the wrong CA must fail the handshake loudly rather than be
	// silently downgraded to an anonymous caller.
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return h.Get(), nil }
	return cfg
}

func clientTLSConfig(root *RootCA, serverName string) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		RootCAs:          root.Pool(),
		ServerName:       serverName,
		NextProtos:       append([]string(nil), nextProtos...),
		VerifyConnection: verifyPeerCluster(root.ClusterID()),
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
