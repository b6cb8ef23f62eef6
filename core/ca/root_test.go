package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"strings"
	"testing"
)

func TestNewRootCA(t *testing.T) {
	r := mustRoot(t, "cluster-a", testNow)
	c := r.Cert()
	if !c.IsCA || !c.BasicConstraintsValid {
		t.Errorf("root is not a CA certificate")
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("root key is %T, want ECDSA P-256", c.PublicKey)
	}
	if got, want := c.NotAfter, testNow.Add(RootLifetime); !got.Equal(want) {
		t.Errorf("NotAfter = %v, want %v", got, want)
	}
	if c.NotBefore.After(testNow) {
		t.Errorf("NotBefore %v after creation time %v", c.NotBefore, testNow)
	}
	if r.ClusterID() != "cluster-a" {
		t.Errorf("ClusterID = %q", r.ClusterID())
	}
	if !r.CanSign() {
		t.Errorf("new root cannot sign")
	}
	d := r.Digest()
	if len(d) != DigestLen || DigestLen != 52 {
		t.Errorf("digest %q has length %d, DigestLen %d, want 52", d, len(d), DigestLen)
	}
	if strings.Trim(d, "0123456789abcdefghijklmnopqrstuv") != "" {
		t.Errorf("digest %q is not lowercase base32hex", d)
	}
	if d != DigestOf(c.Raw) {
		t.Errorf("Digest() differs from DigestOf(cert DER)")
	}
	if other := mustRoot(t, "cluster-a", testNow); other.Digest() == d {
		t.Errorf("two roots share digest %s", d)
	}
}

func TestParseRootCARoundTrip(t *testing.T) {
	r := mustRoot(t, "c1", testNow)
	full, err := ParseRootCA(r.CertPEM, r.KeyPEM)
	if err != nil {
		t.Fatalf("ParseRootCA: %v", err)
	}
	if full.Digest() != r.Digest() || !full.CanSign() || full.ClusterID() != "c1" {
		t.Errorf("parsed root differs: digest %s/%s canSign %v", full.Digest(), r.Digest(), full.CanSign())
	}
	certOnly, err := ParseRootCA(r.CertPEM, nil)
	if err != nil {
		t.Fatalf("ParseRootCA cert-only: %v", err)
	}
	if certOnly.CanSign() || certOnly.KeyPEM != nil || certOnly.Digest() != r.Digest() {
		t.Errorf("cert-only root: canSign %v, key %d bytes", certOnly.CanSign(), len(certOnly.KeyPEM))
	}
	co := r.CertOnly()
	if co.CanSign() || co.KeyPEM != nil || !bytes.Equal(co.CertPEM, r.CertPEM) {
		t.Errorf("CertOnly kept the key")
	}
	if _, err := certOnly.IssueNodeCert(nil, "n", "c1", RoleWorker, testNow); !errors.Is(err, ErrNoSigningKey) {
		t.Errorf("cert-only IssueNodeCert err = %v, want ErrNoSigningKey", err)
	}
}

func TestParseRootCAErrors(t *testing.T) {
	a := mustRoot(t, "a", testNow)
	b := mustRoot(t, "b", testNow)
	nodePEM, nodeKey, _ := mustNode(t, a, "n1", RoleManager, testNow)
	cases := []struct {
		name          string
		cert, key     []byte
		wantSubstring string
	}{
		{"empty", nil, nil, "no PEM data"},
		{"garbage", []byte("not pem"), nil, "no PEM data"},
		{"key as cert", a.KeyPEM, nil, `PEM block is "PRIVATE KEY"`},
		{"two certs", append(append([]byte{}, a.CertPEM...), b.CertPEM...), nil, "trailing data"},
		{"node cert is not a CA", nodePEM, nil, "not a CA certificate"},
		{"key of another root", a.CertPEM, b.KeyPEM, "does not match"},
		{"node key", a.CertPEM, nodeKey, "does not match"},
		{"garbage key", a.CertPEM, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "parse private key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRootCA(tc.cert, tc.key)
			if !errors.Is(err, ErrInvalidRoot) {
				t.Fatalf("err = %v, want ErrInvalidRoot", err)
			}
			if !strings.Contains(err.Error(), tc.wantSubstring) {
				t.Errorf("err = %q, want it to mention %q", err, tc.wantSubstring)
			}
		})
	}
}

func TestNewRootCARejectsBadClusterID(t *testing.T) {
	for _, id := range []string{"", "has space", strings.Repeat("x", 65), "tab\there"} {
		if _, err := NewRootCA(id, testNow); !errors.Is(err, ErrInvalidIdentity) {
			t.Errorf("NewRootCA(%q) err = %v, want ErrInvalidIdentity", id, err)
		}
	}
}
