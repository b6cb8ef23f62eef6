// Package catest issues certificates for tests of the packages that check
// them (core/auth and its users). Tests only.
package catest

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/ca"
)

// Issue makes a key and a certificate signed by root naming node with role
// in root's cluster, issued at now, and fails t on error.
func Issue(t testing.TB, root *ca.RootCA, node string, role ca.Role, now time.Time) tls.Certificate {
	t.Helper()
	keyPEM, csr, err := ca.NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := root.IssueNodeCert(csr, node, root.ClusterID(), role, time.Time{}, ca.WithNow(now))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}
