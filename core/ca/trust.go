package ca

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// Trust is the set of roots a node accepts peers' certificates from: the
// cluster's root, and during a root rotation the new root too. A node's TLS
// configurations read it at every handshake, so Set (the rotation moving
// on) takes effect without restarting listeners or clients. Safe for
// concurrent use.
type Trust struct {
	clusterID string
	p         atomic.Pointer[trustRoots]
}

type trustRoots struct {
	pem   []byte
	roots []*RootCA
	pool  *x509.CertPool
}

// ParseRootBundle decodes one or more concatenated PEM root certificates
// (certificate-only roots) of one cluster, as a node's root.crt holds them
// during a rotation.
func ParseRootBundle(bundlePEM []byte) ([]*RootCA, error) {
	var roots []*RootCA
	rest := bundlePEM
	for len(strings.TrimSpace(string(rest))) > 0 {
		block, next := pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("%w: root bundle: data after certificate %d is not PEM", ErrInvalidRoot, len(roots))
		}
		r, err := ParseRootCA(pem.EncodeToMemory(block), nil)
		if err != nil {
			return nil, fmt.Errorf("root bundle certificate %d: %w", len(roots)+1, err)
		}
		if len(roots) > 0 && r.ClusterID() != roots[0].ClusterID() {
			return nil, fmt.Errorf("%w: root bundle names clusters %q and %q", ErrClusterMismatch, roots[0].ClusterID(), r.ClusterID())
		}
		roots = append(roots, r)
		rest = next
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("%w: root bundle holds no certificate", ErrInvalidRoot)
	}
	return roots, nil
}

// RootBundle concatenates roots' certificates, the form root.crt and
// the CA answers carry.
func RootBundle(roots ...*RootCA) []byte {
	var b bytes.Buffer
	for _, r := range roots {
		b.Write(r.CertPEM)
	}
	return b.Bytes()
}

// NewTrust trusts the roots in bundlePEM (see [ParseRootBundle]).
func NewTrust(bundlePEM []byte) (*Trust, error) {
	tr, err := newTrustRoots(bundlePEM)
	if err != nil {
		return nil, err
	}
	t := &Trust{clusterID: tr.roots[0].ClusterID()}
	t.p.Store(tr)
	return t, nil
}

// TrustRoot trusts root alone.
func TrustRoot(root *RootCA) *Trust {
	t := &Trust{clusterID: root.ClusterID()}
	t.p.Store(&trustRoots{pem: root.CertPEM, roots: []*RootCA{root.CertOnly()}, pool: root.Pool()})
	return t
}

func newTrustRoots(bundlePEM []byte) (*trustRoots, error) {
	roots, err := ParseRootBundle(bundlePEM)
	if err != nil {
		return nil, err
	}
	return &trustRoots{pem: bytes.Clone(bundlePEM), roots: roots, pool: poolOf(roots)}, nil
}

// Set replaces the trusted roots from the next handshake on. The bundle
// must name the same cluster.
func (t *Trust) Set(bundlePEM []byte) error {
	tr, err := newTrustRoots(bundlePEM)
	if err != nil {
		return err
	}
	if id := tr.roots[0].ClusterID(); id != t.clusterID {
		return fmt.Errorf("%w: new roots are for cluster %q, this node is in %q", ErrClusterMismatch, id, t.clusterID)
	}
	t.p.Store(tr)
	return nil
}

// PEM returns the trusted roots as a PEM bundle. Do not modify it.
func (t *Trust) PEM() []byte { return t.p.Load().pem }

// Roots returns the trusted roots. Do not modify them.
func (t *Trust) Roots() []*RootCA { return t.p.Load().roots }

// Pool returns the trusted roots as a pool. Do not modify it.
func (t *Trust) Pool() *x509.CertPool { return t.p.Load().pool }

// ClusterID returns the cluster the roots belong to.
func (t *Trust) ClusterID() string { return t.clusterID }

// VerifyChain checks that chain (a leaf, then intermediates such as a
// cross-signed root) leads to a trusted root for usage at now (zero: the
// current time), and that the leaf is valid for dnsName if that is set.
func (t *Trust) VerifyChain(chain []*x509.Certificate, usage x509.ExtKeyUsage, dnsName string, now time.Time) error {
	if len(chain) == 0 {
		return fmt.Errorf("%w: no certificate", ErrInvalidIdentity)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         t.Pool(),
		Intermediates: inter,
		DNSName:       dnsName,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	})
	return err
}

// signedByAny reports whether leaf was signed by one of roots, directly or
// through one of inters signed by a root (a cross-signed root). Validity
// dates are not looked at.
func signedByAny(leaf *x509.Certificate, inters []*x509.Certificate, roots []*RootCA) bool {
	for _, r := range roots {
		if leaf.CheckSignatureFrom(r.Cert()) == nil {
			return true
		}
		for _, in := range inters {
			if leaf.CheckSignatureFrom(in) == nil && in.CheckSignatureFrom(r.Cert()) == nil {
				return true
			}
		}
	}
	return false
}
