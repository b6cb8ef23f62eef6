package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shoal-project/shoal/core/ca"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// RotateRootCA starts a root rotation: the new root (given or made) is
// cross-signed by the current one and issues every certificate from now
// on; nodes renew theirs when they see it (core/node), and the leader
// makes it the cluster's root once every node that is not DOWN has one
// (core/manager, FinishRootRotation).
func (s *Server) RotateRootCA(ctx context.Context, req *connect.Request[shoalv1.RotateRootCARequest]) (*connect.Response[shoalv1.RotateRootCAResponse], error) {
	certPEM, keyPEM := req.Msg.GetCaCertPem(), req.Msg.GetCaKeyPem()
	if (len(certPEM) == 0) != (len(keyPEM) == 0) {
		return nil, invalidArg("ca_cert_pem and ca_key_pem: give both (a root and its key) or neither (a new root is made)")
	}
	var out *shoalv1.Cluster
	err := s.store.Update(ctx, func(tx store.Tx) error {
		c, err := clusterObj(tx)
		if err != nil {
			return err
		}
		if rot := c.GetRootRotation(); rot != nil {
			return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("a root rotation to %s is in progress: wait until every node has a certificate from it ('shoal ca')", rot.GetDigest()))
		}
		rot, err := newRootRotation(c, certPEM, keyPEM)
		if err != nil {
			return err
		}
		c.RootRotation = rot
		out = c
		return tx.Update(c)
	})
	if err != nil {
		return nil, storeErr(err)
	}
	s.log.Info("root CA rotation started", "new_root", out.GetRootRotation().GetDigest())
	return connect.NewResponse(&shoalv1.RotateRootCAResponse{Cluster: redactCluster(out)}), nil
}

// newRootRotation builds the rotation from cluster c's root to the given
// root (or a new one when certPEM is empty).
func newRootRotation(c *shoalv1.Cluster, certPEM, keyPEM []byte) (*shoalv1.RootRotation, error) {
	old, err := ca.ParseRootCA(c.GetRootCa().GetCaCertPem(), c.GetRootCa().GetCaKeyPem())
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	now := time.Now()
	var next *ca.RootCA
	if len(certPEM) == 0 {
		next, err = ca.NewRootCA(c.GetId(), now)
		if err != nil {
			return nil, connect.NewError(connect.CodeInternal, err)
		}
	} else if next, err = givenRoot(c.GetId(), certPEM, keyPEM); err != nil {
		return nil, err
	}
	if next.Digest() == old.Digest() {
		return nil, invalidArg("ca_cert_pem: is the current root; give a new one")
	}
	cross, err := old.CrossSign(next, now)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	return &shoalv1.RootRotation{
		CaCertPem: next.CertPEM, CaKeyPem: next.KeyPEM, Digest: next.Digest(),
		CrossSignedPem: cross, Started: timestamppb.New(now),
	}, nil
}

// givenRoot checks a root an operator brought.
func givenRoot(clusterID string, certPEM, keyPEM []byte) (*ca.RootCA, error) {
	next, err := ca.ParseRootCA(certPEM, keyPEM)
	if err != nil {
		return nil, invalidArg("ca_cert_pem, ca_key_pem: %v (want a self-signed CA certificate with O=%s and its ECDSA P-256 key)", err, clusterID)
	}
	if next.ClusterID() != clusterID {
		return nil, invalidArg("ca_cert_pem: subject O is %q, want the cluster ID %q", next.ClusterID(), clusterID)
	}
	if time.Until(next.Cert().NotAfter) < ca.MinNodeCertLifetime {
		return nil, invalidArg("ca_cert_pem: expires %s; give a root valid for longer", next.Cert().NotAfter.Format(time.RFC3339))
	}
	return next, nil
}

// ErrRotationPending reports nodes that still hold certificates from the
// old root.
var ErrRotationPending = errors.New("root rotation: nodes still hold certificates from the old root")

// FinishRootRotation makes the rotation's root the cluster's root, and
// re-pins the join tokens (same secrets, new digest), once every node
// that is not DOWN has a certificate from it. It returns whether it did,
// with ErrRotationPending and the count when nodes are left.
func FinishRootRotation(tx store.Tx) (bool, error) {
	c, err := clusterObj(tx)
	if err != nil {
		return false, err
	}
	rot := c.GetRootRotation()
	if rot == nil {
		return false, nil
	}
	nodes, err := tx.FindNodes(store.All())
	if err != nil {
		return false, err
	}
	left := 0
	for _, n := range nodes {
		if n.GetCertIssuerDigest() != rot.GetDigest() && n.GetStatus().GetState() != shoalv1.NodeState_NODE_STATE_DOWN {
			left++
		}
	}
	if left > 0 {
		return false, fmt.Errorf("%w: %d left", ErrRotationPending, left)
	}
	c.RootCa = &shoalv1.RootCA{CaCertPem: rot.GetCaCertPem(), CaKeyPem: rot.GetCaKeyPem(), Digest: rot.GetDigest()}
	c.RootRotation = nil
	c.JoinTokens = &shoalv1.JoinTokens{
		Worker:  repin(c.GetJoinTokens().GetWorker(), rot.GetDigest()),
		Manager: repin(c.GetJoinTokens().GetManager(), rot.GetDigest()),
	}
	return true, tx.Update(c)
}

// repin is token with its CA digest replaced.
func repin(token, digest string) string {
	t, err := ca.ParseJoinToken(token)
	if err != nil {
		return token
	}
	t.CADigest = digest
	return t.String()
}
