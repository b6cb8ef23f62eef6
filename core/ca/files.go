package ca

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shoal-project/shoal/internal/atomicfile"
)

// File names inside a node's TLS directory.
const (
	NodeCertFile = "node.crt"
	NodeKeyFile  = "node.key"
	RootCertFile = "root.crt"
)

// NodeTLS is a node's certificate, key and cluster root as loaded from
// disk, parsed and checked to belong together.
type NodeTLS struct {
	CertPEM, KeyPEM, RootPEM []byte

	// Certificate is the key pair with Leaf set, ready for a tls.Config.
	Certificate tls.Certificate
	// Root is the certificate-only cluster root: the first of Roots.
	Root *RootCA
	// Roots are the roots root.crt holds: the cluster's, and during a root
	// rotation the new one after it.
	Roots []*RootCA
	// Identity is what the node certificate names.
	Identity Identity
}

// SaveNodeTLS writes a node's certificate, key and root into dir (created
// 0700 if missing). Each file is written atomically: a temporary file in
// dir, fsynced, renamed over the old one, then dir is fsynced. The key file
// is 0600, the certificates 0644. keyPEM may be nil to replace only the
// certificates (after a renewal that kept the key).
func SaveNodeTLS(dir string, certPEM, keyPEM, rootPEM []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("ca: create TLS dir: %w", err)
	}
	// Root first, certificate last: a reader that sees a new certificate
	// also sees the key and root it needs.
	if err := atomicfile.Write(filepath.Join(dir, RootCertFile), rootPEM, 0o644); err != nil {
		return err
	}
	if keyPEM != nil {
		if err := atomicfile.Write(filepath.Join(dir, NodeKeyFile), keyPEM, 0o600); err != nil {
			return err
		}
	}
	return atomicfile.Write(filepath.Join(dir, NodeCertFile), certPEM, 0o644)
}

// LoadNodeTLS reads the files SaveNodeTLS wrote and checks that the key
// matches the certificate, that the certificate was signed by the root and
// names a valid identity in the root's cluster. Validity dates are not
// checked, so that an expired certificate can still be loaded and renewed.
// Missing files give an error matching fs.ErrNotExist.
func LoadNodeTLS(dir string) (NodeTLS, error) {
	var n NodeTLS
	var err error
	if n.RootPEM, err = os.ReadFile(filepath.Join(dir, RootCertFile)); err != nil {
		return NodeTLS{}, fmt.Errorf("ca: load node TLS: %w", err)
	}
	if n.KeyPEM, err = os.ReadFile(filepath.Join(dir, NodeKeyFile)); err != nil {
		return NodeTLS{}, fmt.Errorf("ca: load node TLS: %w", err)
	}
	if n.CertPEM, err = os.ReadFile(filepath.Join(dir, NodeCertFile)); err != nil {
		return NodeTLS{}, fmt.Errorf("ca: load node TLS: %w", err)
	}
	if n.Roots, err = ParseRootBundle(n.RootPEM); err != nil {
		return NodeTLS{}, fmt.Errorf("%w: %s: %w", ErrInvalidNodeTLS, RootCertFile, err)
	}
	n.Root = n.Roots[0]
	if n.Certificate, err = KeyPair(n.CertPEM, n.KeyPEM); err != nil {
		return NodeTLS{}, err
	}
	leaf := n.Certificate.Leaf
	var inters []*x509.Certificate
	for _, der := range n.Certificate.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inters = append(inters, c)
		}
	}
	if !signedByAny(leaf, inters, n.Roots) {
		return NodeTLS{}, fmt.Errorf("%w: %s is not signed by %s (by none of its roots)", ErrInvalidNodeTLS, NodeCertFile, RootCertFile)
	}
	if n.Identity, err = IdentityFromCert(leaf); err != nil {
		return NodeTLS{}, fmt.Errorf("%w: %w", ErrInvalidNodeTLS, err)
	}
	if n.Identity.ClusterID != n.Root.ClusterID() {
		return NodeTLS{}, fmt.Errorf("%w: %w: certificate names cluster %q, root is for %q", ErrInvalidNodeTLS, ErrClusterMismatch, n.Identity.ClusterID, n.Root.ClusterID())
	}
	return n, nil
}

// Trust returns the node's trusted roots as a [Trust] for its TLS
// configurations.
func (n NodeTLS) Trust() *Trust {
	t := &Trust{clusterID: n.Root.ClusterID()}
	t.p.Store(&trustRoots{pem: n.RootPEM, roots: n.Roots, pool: poolOf(n.Roots)})
	return t
}

func poolOf(roots []*RootCA) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r.Cert())
	}
	return pool
}

// SaveRootBundle replaces the root.crt in dir (atomically, see SaveNodeTLS).
func SaveRootBundle(dir string, bundlePEM []byte) error {
	return atomicfile.Write(filepath.Join(dir, RootCertFile), bundlePEM, 0o644)
}

// LoadClientTLS loads the certificate SaveNodeTLS wrote into dir (such as
// the admin certificate 'shoal init' writes into <data-dir>/admin) and
// returns a client configuration that always presents it, so a certificate
// from another cluster fails the handshake instead of being dropped silently.
func LoadClientTLS(dir string) (*tls.Config, error) {
	n, err := LoadNodeTLS(dir)
	if err != nil {
		return nil, err
	}
	return ClientTLSConfigFromHolder(n.Trust(), NewCertHolder(n.Certificate), ""), nil
}
