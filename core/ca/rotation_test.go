package ca

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"
)

// rotationFixture is a cluster's old root, the new one, the cross-signed
// new root, and a certificate from each root (the new one with the
// cross-signed root after it).
type rotationFixture struct {
	old, next        *RootCA
	cross            []byte
	oldLeaf, newLeaf tls.Certificate
}

func newRotationFixture(t *testing.T) rotationFixture {
	t.Helper()
	now := time.Now()
	f := rotationFixture{old: mustRoot(t, "cluster-a", now), next: mustRoot(t, "cluster-a", now)}
	var err error
	if f.cross, err = f.old.CrossSign(f.next, now); err != nil {
		t.Fatalf("CrossSign: %v", err)
	}
	_, _, f.oldLeaf = mustNode(t, f.old, "node-old", RoleWorker, now, "127.0.0.1")
	certPEM, keyPEM, _ := mustNode(t, f.next, "node-new", RoleWorker, now, "127.0.0.1")
	if f.newLeaf, err = KeyPair(append(certPEM, f.cross...), keyPEM); err != nil {
		t.Fatal(err)
	}
	return f
}

func chainOf(t *testing.T, c tls.Certificate) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for _, der := range c.Certificate {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cert)
	}
	return out
}

func TestCrossSignedCertificatesVerifyUnderEitherRootDuringRotation(t *testing.T) {
	f := newRotationFixture(t)
	oldOnly, nextOnly := TrustRoot(f.old), TrustRoot(f.next)
	both, err := NewTrust(RootBundle(f.old, f.next))
	if err != nil {
		t.Fatal(err)
	}
	newWithoutCross := chainOf(t, f.newLeaf)[:1]
	for _, tc := range []struct {
		name  string
		trust *Trust
		chain []*x509.Certificate
		ok    bool
	}{
		{"new cert, cross-signed, old root only", oldOnly, chainOf(t, f.newLeaf), true},
		{"new cert, new root only", nextOnly, chainOf(t, f.newLeaf), true},
		{"new cert, both roots", both, chainOf(t, f.newLeaf), true},
		{"old cert, both roots", both, chainOf(t, f.oldLeaf), true},
		{"new cert without the cross-signed root, old root only", oldOnly, newWithoutCross, false},
		{"old cert after the rotation (new root only)", nextOnly, chainOf(t, f.oldLeaf), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.trust.VerifyChain(tc.chain, x509.ExtKeyUsageClientAuth, "", time.Time{})
			if (err == nil) != tc.ok {
				t.Fatalf("VerifyChain: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// A listener and a client built once follow Trust.Set: after the old root
// is dropped, a certificate it issued fails the handshake, and one from
// the new root passes.
func TestTrustSetTakesEffectInLiveConfigs(t *testing.T) {
	f := newRotationFixture(t)
	trust, err := NewTrust(RootBundle(f.old, f.next))
	if err != nil {
		t.Fatal(err)
	}
	server := ServerTLSConfigFromHolder(trust, NewCertHolder(f.newLeaf))
	handshake := func(client tls.Certificate) error {
		addr, results := serveOnce(t, server)
		_, cerr := dialAndRead(addr, ClientTLSConfigFromHolder(trust, NewCertHolder(client), ""))
		if res := <-results; res.err != nil {
			return res.err
		}
		return cerr
	}
	if err := handshake(f.oldLeaf); err != nil {
		t.Fatalf("old certificate during the rotation: %v", err)
	}
	if err := trust.Set(f.next.CertPEM); err != nil {
		t.Fatal(err)
	}
	if err := handshake(f.oldLeaf); err == nil {
		t.Fatal("old certificate after the rotation: handshake succeeded")
	}
	if err := handshake(f.newLeaf); err != nil {
		t.Fatalf("new certificate after the rotation: %v", err)
	}
	if err := trust.Set(mustRoot(t, "cluster-b", time.Now()).CertPEM); err == nil {
		t.Fatal("Set accepted another cluster's root")
	}
}

func TestIssuedBy(t *testing.T) {
	f := newRotationFixture(t)
	certPEM, _, _ := mustNode(t, f.next, "n", RoleManager, time.Now())
	if !IssuedBy(append(certPEM, f.cross...), f.next) || IssuedBy(certPEM, f.old) || IssuedBy([]byte("junk"), f.next) {
		t.Fatal("IssuedBy answered wrong")
	}
}

func FuzzParseRootBundle(f *testing.F) {
	a, b := mustRoot(f, "cluster-a", testNow), mustRoot(f, "cluster-a", testNow)
	f.Add(RootBundle(a, b))
	f.Add(a.CertPEM)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		roots, err := ParseRootBundle(in)
		if err != nil {
			return
		}
		again, err := ParseRootBundle(RootBundle(roots...))
		if err != nil || len(again) != len(roots) {
			t.Fatalf("a parsed bundle does not parse again: %v", err)
		}
		for i := range roots {
			if roots[i].ClusterID() != roots[0].ClusterID() || again[i].Digest() != roots[i].Digest() {
				t.Fatalf("root %d: cluster %q vs %q, digest %s vs %s", i, roots[i].ClusterID(), roots[0].ClusterID(), again[i].Digest(), roots[i].Digest())
			}
		}
	})
}
