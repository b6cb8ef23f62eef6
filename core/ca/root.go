package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"
)

// Validity periods.
const (
	// RootLifetime is how long a new root CA is valid.
	RootLifetime = 10 * 365 * 24 * time.Hour
	// DefaultNodeCertLifetime is a node certificate's validity when the
	// caller gives no expiry.
	DefaultNodeCertLifetime = 90 * 24 * time.Hour
	// MinNodeCertLifetime is the shortest node certificate validity a
	// cluster accepts (shoal init --cert-expiry): nodes renew between 50
	// and 80 % of it, checking every couple of seconds.
	MinNodeCertLifetime = 30 * time.Second
	// clockSkew backdates NotBefore so that nodes whose clocks lag a little
	// still accept a fresh certificate.
	clockSkew = 5 * time.Minute
)

// PEM block types.
const (
	pemCertificate = "CERTIFICATE"
	pemPrivateKey  = "PRIVATE KEY"
	pemECKey       = "EC PRIVATE KEY"
)

// digestEncoding prints digests: RFC 4648 base32 with the extended-hex
// alphabet, lowercase, unpadded ("0-9a-v").
var digestEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// DigestLen is the length of a printed digest: sha256 (32 bytes) in
// unpadded base32.
const DigestLen = 52

// DigestOf returns the printed sha256 digest of a DER certificate.
func DigestOf(der []byte) string {
	sum := sha256.Sum256(der)
	return digestEncoding.EncodeToString(sum[:])
}

// RootCA is a cluster's root certificate authority. CertPEM and KeyPEM are
// its encoded form (KeyPEM is nil for a certificate-only root, which clients
// use for verification); treat them as read-only. Build one with
// [NewRootCA] or [ParseRootCA].
type RootCA struct {
	CertPEM []byte
	KeyPEM  []byte

	cert      *x509.Certificate
	key       crypto.Signer
	clusterID string
	digest    string
}

// NewRootCA creates a self-signed ECDSA P-256 root for clusterID, valid
// from now for [RootLifetime].
func NewRootCA(clusterID string, now time.Time) (*RootCA, error) {
	if err := validateName("cluster ID", clusterID); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ca: generate root key: %w", err)
	}
	serial, err := newSerial(rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   "shoal root CA",
			Organization: []string{clusterID},
		},
		NotBefore:             now.Add(-clockSkew).UTC(),
		NotAfter:              now.Add(RootLifetime).UTC(),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// One intermediate below the root: the next root, cross-signed by
		// this one during a root rotation (CrossSign).
		MaxPathLen: 1,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("ca: create root certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("ca: encode root key: %w", err)
	}
	return ParseRootCA(
		pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: keyDER}),
	)
}

// ParseRootCA decodes a root from PEM. keyPEM may be nil for a
// certificate-only root, which can verify but not sign. The certificate must
// be a self-signed CA certificate whose subject O is the cluster ID, and the
// key, if given, must match it.
func ParseRootCA(certPEM, keyPEM []byte) (*RootCA, error) {
	cert, err := parseSingleCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRoot, err)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, fmt.Errorf("%w: certificate is not a CA certificate", ErrInvalidRoot)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		return nil, fmt.Errorf("%w: certificate is not self-signed: %w", ErrInvalidRoot, err)
	}
	if len(cert.Subject.Organization) != 1 {
		return nil, fmt.Errorf("%w: subject has %d O values, want exactly 1 (the cluster ID)", ErrInvalidRoot, len(cert.Subject.Organization))
	}
	r := &RootCA{
		CertPEM:   append([]byte(nil), certPEM...),
		cert:      cert,
		clusterID: cert.Subject.Organization[0],
		digest:    DigestOf(cert.Raw),
	}
	if len(keyPEM) == 0 {
		return r, nil
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRoot, err)
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("%w: private key does not match certificate", ErrInvalidRoot)
	}
	r.KeyPEM = append([]byte(nil), keyPEM...)
	r.key = key
	return r, nil
}

// Cert returns the parsed root certificate. Do not modify it.
func (r *RootCA) Cert() *x509.Certificate { return r.cert }

// ClusterID returns the cluster ID named in the root's subject.
func (r *RootCA) ClusterID() string { return r.clusterID }

// Digest returns the sha256 digest of the root certificate's DER, printed
// as lowercase unpadded base32 (extended-hex alphabet, [DigestLen] chars).
func (r *RootCA) Digest() string { return r.digest }

// CanSign reports whether the root holds its private key.
func (r *RootCA) CanSign() bool { return r.key != nil }

// CertOnly returns a copy of r without the private key, for handing to
// clients and joiners.
func (r *RootCA) CertOnly() *RootCA {
	return &RootCA{CertPEM: r.CertPEM, cert: r.cert, clusterID: r.clusterID, digest: r.digest}
}

// Pool returns a new certificate pool holding only this root.
func (r *RootCA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(r.cert)
	return p
}

// VerifyNodeCert checks that cert chains to this root at time now (zero
// means the current time) for client and server use, and that it names a
// valid identity in this cluster. It returns that identity.
func (r *RootCA) VerifyNodeCert(cert *x509.Certificate, now time.Time) (Identity, error) {
	if cert == nil {
		return Identity{}, fmt.Errorf("%w: no certificate", ErrInvalidIdentity)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		_, err := cert.Verify(x509.VerifyOptions{
			Roots:       r.Pool(),
			CurrentTime: now,
			KeyUsages:   []x509.ExtKeyUsage{usage},
		})
		if err != nil {
			return Identity{}, fmt.Errorf("ca: verify node certificate: %w", err)
		}
	}
	id, err := IdentityFromCert(cert)
	if err != nil {
		return Identity{}, err
	}
	if id.ClusterID != r.clusterID {
		return Identity{}, fmt.Errorf("%w: certificate names cluster %q, root is for %q", ErrClusterMismatch, id.ClusterID, r.clusterID)
	}
	return id, nil
}

func newSerial(rnd io.Reader) (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 127)
	n, err := rand.Int(rnd, limit)
	if err != nil {
		return nil, fmt.Errorf("ca: generate serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil // never zero
}

// parseSingleCert decodes exactly one PEM certificate.
func parseSingleCert(certPEM []byte) (*x509.Certificate, error) {
	block, rest := pem.Decode(certPEM)
	if block == nil {
		return nil, fmt.Errorf("no PEM data")
	}
	if block.Type != pemCertificate {
		return nil, fmt.Errorf("PEM block is %q, want %q", block.Type, pemCertificate)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, fmt.Errorf("trailing data after the certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}

// parsePrivateKey decodes a PKCS#8 or SEC 1 ECDSA P-256 key.
func parsePrivateKey(keyPEM []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, fmt.Errorf("no PEM data in key")
	}
	var key any
	var err error
	switch block.Type {
	case pemPrivateKey:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case pemECKey:
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("key PEM block is %q, want %q", block.Type, pemPrivateKey)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("private key is %T, want ECDSA P-256", key)
	}
	return ec, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ea, ok := a.(equaler)
	return ok && ea.Equal(b)
}
