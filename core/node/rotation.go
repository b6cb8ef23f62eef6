package node

import (
	"bytes"
	"context"

	"github.com/shoal-project/shoal/core/ca"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// followRoots applies what a NodeCertificateStatus answer from the manager
// at addr says of the cluster's roots (a root rotation moving on): a new
// set of trusted roots is saved and trusted from the next handshake, and a
// certificate that the signing root did not issue is renewed at once.
func (n *Node) followRoots(ctx context.Context, addr string, res *shoalv1.NodeCertificateStatusResponse) error {
	if b := res.GetRootBundle(); len(b) > 0 && !bytes.Equal(b, n.trust.PEM()) {
		if err := n.trust.Set(b); err != nil {
			return err
		}
		if err := ca.SaveRootBundle(certDir(n.cfg.DataDir), b); err != nil {
			return err
		}
		n.log.Info("trusted roots changed", "roots", len(n.trust.Roots()))
	}
	if len(res.GetSigningRoot()) == 0 {
		return nil
	}
	signer, err := ca.ParseRootCA(res.GetSigningRoot(), nil)
	if err != nil {
		return err
	}
	if err := n.followAdminCert(signer, n.trust.PEM()); err != nil {
		n.log.Warn("keep the admin certificate on the cluster's root", "err", err)
	}
	n.mu.Lock()
	certPEM, role := n.tlsM.CertPEM, n.tlsM.Identity.Role
	n.mu.Unlock()
	if ca.IssuedBy(certPEM, signer) {
		return nil
	}
	tlsM, err := n.issueCert(ctx, addr)
	if err != nil {
		return err
	}
	if tlsM.Identity.Role != role {
		return n.applyRole(addr, tlsM)
	}
	n.adoptCert(tlsM)
	n.log.Info("certificate reissued by the cluster's new root", "root", signer.Digest())
	return nil
}
