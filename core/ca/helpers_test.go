package ca

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"
)

// testNow is the fixed clock for tests that do not go through a real TLS
// handshake (those need certificates valid at the real time).
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustRoot(t testing.TB, cluster string, now time.Time) *RootCA {
	t.Helper()
	r, err := NewRootCA(cluster, now)
	if err != nil {
		t.Fatalf("NewRootCA: %v", err)
	}
	return r
}

// mustNode issues a node key pair from root, valid at now.
func mustNode(t testing.TB, root *RootCA, nodeID string, role Role, now time.Time, hosts ...string) (certPEM, keyPEM []byte, pair tls.Certificate) {
	t.Helper()
	keyPEM, csr, err := NewKeyAndCSR()
	if err != nil {
		t.Fatalf("NewKeyAndCSR: %v", err)
	}
	certPEM, err = root.IssueNodeCert(csr, nodeID, root.ClusterID(), role, time.Time{}, WithNow(now), WithSANs(hosts...))
	if err != nil {
		t.Fatalf("IssueNodeCert: %v", err)
	}
	pair, err = KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("KeyPair: %v", err)
	}
	return certPEM, keyPEM, pair
}

func bytesReader(seed byte) io.Reader { return mrand.NewChaCha8([32]byte{seed}) }

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func x509CreateCSR(key *ecdsa.PrivateKey) ([]byte, error) {
	return x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
}
