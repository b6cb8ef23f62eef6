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
	issuer, chainPEM, err := signingRoot(m.Store())
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

// signingRoot is the root (with its key) that issues certificates now, as
// the store st has it, and the chain that follows them (a rotation's
// cross-signed root).
func signingRoot(st *store.Store) (*ca.RootCA, []byte, error) {
	var cl *shoalv1.Cluster
	_ = st.View(func(tx store.ReadTx) error {
		if cs, _ := tx.FindClusters(store.All()); len(cs) > 0 {
			cl = cs[0]
		}
		return nil
	})
	if rot := cl.GetRootRotation(); rot != nil {
		r, err := ca.ParseRootCA(rot.GetCaCertPem(), rot.GetCaKeyPem())
		return r, rot.GetCrossSignedPem(), err
	}
	r, err := ca.ParseRootCA(cl.GetRootCa().GetCaCertPem(), cl.GetRootCa().GetCaKeyPem())
	return r, nil, err
}
