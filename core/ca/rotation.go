package ca

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"
)

// CrossSign signs next's public key and subject with r, making a
// certificate that chains next to r: node certificates issued by next carry
// it as an intermediate during a root rotation, so peers that still trust
// only r accept them. It is valid as long as both roots are, and may sign
// node certificates only (path length 0). It returns the certificate as PEM.
func (r *RootCA) CrossSign(next *RootCA, now time.Time) ([]byte, error) {
	if r.key == nil {
		return nil, ErrNoSigningKey
	}
	if next.ClusterID() != r.ClusterID() {
		return nil, fmt.Errorf("%w: new root is for cluster %q, old root for %q", ErrClusterMismatch, next.ClusterID(), r.ClusterID())
	}
	serial, err := newSerial(rand.Reader)
	if err != nil {
		return nil, err
	}
	notAfter := next.cert.NotAfter
	if notAfter.After(r.cert.NotAfter) {
		notAfter = r.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               next.cert.Subject,
		SubjectKeyId:          next.cert.SubjectKeyId,
		NotBefore:             now.Add(-clockSkew).UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, r.cert, next.cert.PublicKey, r.key)
	if err != nil {
		return nil, fmt.Errorf("ca: cross-sign the new root: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der}), nil
}

// IssuedBy reports whether the leaf of certPEM (a node certificate,
// possibly followed by intermediates) was signed by root's key. A node
// whose certificate was not issued by the cluster's signing root renews it.
func IssuedBy(certPEM []byte, root *RootCA) bool {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != pemCertificate {
		return false
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return false
	}
	return leaf.CheckSignatureFrom(root.Cert()) == nil
}
