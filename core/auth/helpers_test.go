package auth

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/ca"
	"github.com/shoal-project/shoal/core/ca/catest"
)

// testCluster is a root with node certificates for each role.
type testCluster struct {
	root                   *ca.RootCA
	manager, worker, admin tls.Certificate
}

func newTestCluster(t testing.TB, clusterID string) *testCluster {
	t.Helper()
	now := time.Now()
	root, err := ca.NewRootCA(clusterID, now)
	if err != nil {
		t.Fatal(err)
	}
	c := &testCluster{root: root}
	c.manager = catest.Issue(t, root, "m1", ca.RoleManager, now)
	c.worker = catest.Issue(t, root, "w1", ca.RoleWorker, now)
	c.admin = catest.Issue(t, root, "ops", ca.RoleAdmin, now)
	return c
}

// verifiedState is the ConnectionState crypto/tls would produce for a
// client presenting cert, verified against root.
func verifiedState(cert tls.Certificate, root *ca.RootCA) *tls.ConnectionState {
	leaf := cert.Leaf
	return &tls.ConnectionState{
		HandshakeComplete: true,
		PeerCertificates:  []*x509.Certificate{leaf},
		VerifiedChains:    [][]*x509.Certificate{{leaf, root.Cert()}},
	}
}
