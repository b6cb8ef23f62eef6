package manager

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/ca"
)

// A direct Raft connection (transport.ProtoRaft) is admitted on the
// RaftService's terms: a verified manager certificate of a node the cluster
// has not removed.
func TestDirectRaftConnectionsAreForManagersOnly(t *testing.T) {
	root, err := ca.NewRootCA("cl", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert := func(nodeID string, role ca.Role) *x509.Certificate {
		_, csr, err := ca.NewKeyAndCSR()
		if err != nil {
			t.Fatal(err)
		}
		pemBytes, err := root.IssueNodeCert(csr, nodeID, "cl", role, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := ca.ParseCertPEM(pemBytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	verified := func(c *x509.Certificate) tls.ConnectionState {
		return tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}, VerifiedChains: [][]*x509.Certificate{{c, root.Cert()}}}
	}
	m := &Manager{}
	m.removed.Store(&[]string{"gone"})
	tests := []struct {
		name  string
		state tls.ConnectionState
		ok    bool
	}{
		{"manager", verified(cert("m1", ca.RoleManager)), true},
		{"worker", verified(cert("w1", ca.RoleWorker)), false},
		{"no certificate", tls.ConnectionState{}, false},
		{"certificate not verified", tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert("m2", ca.RoleManager)}}, false},
		{"removed manager", verified(cert("gone", ca.RoleManager)), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := m.authorizeRaftConn(tc.state); (err == nil) != tc.ok {
				t.Fatalf("authorizeRaftConn = %v, want admitted %v", err, tc.ok)
			}
		})
	}
}
