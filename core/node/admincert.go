package node

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/shoal-project/shoal/core/ca"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// followAdminCert keeps the admin certificate 'shoal init' wrote into
// <data-dir>/admin on the cluster's signing root and trusted roots, from
// the manager's own store, so that 'shoal --host' keeps working through a
// root rotation. Nodes without an admin certificate, and workers, skip it.
func (n *Node) followAdminCert(signer *ca.RootCA, bundle []byte) error {
	n.mu.Lock()
	m := n.mgr
	n.mu.Unlock()
	if m == nil {
		return nil
	}
	dir := filepath.Join(n.cfg.DataDir, "admin")
	cur, err := ca.LoadNodeTLS(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if ca.IssuedBy(cur.CertPEM, signer) {
		if !bytes.Equal(cur.RootPEM, bundle) {
			return ca.SaveRootBundle(dir, bundle)
		}
		return nil
	}
	var cl *shoalv1.Cluster
	_ = m.Store().View(func(tx store.ReadTx) error {
		if cs, _ := tx.FindClusters(store.All()); len(cs) > 0 {
			cl = cs[0]
		}
		return nil
	})
	rootPEM, rootKeyPEM, chainPEM := cl.GetRootCa().GetCaCertPem(), cl.GetRootCa().GetCaKeyPem(), []byte(nil)
	if rot := cl.GetRootRotation(); rot != nil {
		rootPEM, rootKeyPEM, chainPEM = rot.GetCaCertPem(), rot.GetCaKeyPem(), rot.GetCrossSignedPem()
	}
	issuer, err := ca.ParseRootCA(rootPEM, rootKeyPEM)
	if err != nil || issuer.Digest() != signer.Digest() {
		return err // this manager's store is behind: next poll
	}
	newKey, csr, err := ca.NewKeyAndCSR()
	if err != nil {
		return err
	}
	certPEM, err := issuer.IssueNodeCert(csr, cur.Identity.NodeID, cur.Identity.ClusterID, ca.RoleAdmin, time.Time{})
	if err != nil {
		return err
	}
	n.log.Info("admin certificate reissued by the cluster's new root", "dir", dir)
	return ca.SaveNodeTLS(dir, append(certPEM, chainPEM...), newKey, bundle)
}
