package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestIssueNodeCert(t *testing.T) {
	root := mustRoot(t, "cl", testNow)
	_, csr, err := NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := root.IssueNodeCert(csr, "node-1", "cl", RoleWorker, time.Time{},
		WithNow(testNow), WithSANs("10.0.0.7:4242", "node1.example", "fd00::1", "127.0.0.1", "", "node1.example"))
	if err != nil {
		t.Fatalf("IssueNodeCert: %v", err)
	}
	c, err := ParseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject.CommonName != "node-1" || !slices.Equal(c.Subject.OrganizationalUnit, []string{"worker"}) || !slices.Equal(c.Subject.Organization, []string{"cl"}) {
		t.Errorf("subject = %v", c.Subject)
	}
	if got, want := c.NotAfter, testNow.Add(DefaultNodeCertLifetime); !got.Equal(want) {
		t.Errorf("NotAfter = %v, want %v (90 days)", got, want)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ExtKeyUsage = %v", c.ExtKeyUsage)
	}
	if c.IsCA {
		t.Errorf("node cert is a CA")
	}
	wantDNS := []string{"localhost", "shoal-worker", "node1.example"}
	if !slices.Equal(c.DNSNames, wantDNS) {
		t.Errorf("DNSNames = %v, want %v", c.DNSNames, wantDNS)
	}
	var gotIPs []string
	for _, ip := range c.IPAddresses {
		gotIPs = append(gotIPs, ip.String())
	}
	wantIPs := []string{"127.0.0.1", "::1", "10.0.0.7", "fd00::1"}
	if !slices.Equal(gotIPs, wantIPs) {
		t.Errorf("IPAddresses = %v, want %v", gotIPs, wantIPs)
	}
	id, err := root.VerifyNodeCert(c, testNow.Add(time.Hour))
	if err != nil {
		t.Fatalf("VerifyNodeCert: %v", err)
	}
	if want := (Identity{NodeID: "node-1", ClusterID: "cl", Role: RoleWorker}); id != want {
		t.Errorf("identity = %+v, want %+v", id, want)
	}
	if _, err := root.VerifyNodeCert(c, testNow.Add(DefaultNodeCertLifetime+time.Hour)); err == nil {
		t.Errorf("expired certificate verified")
	}
	if _, err := mustRoot(t, "cl", testNow).VerifyNodeCert(c, testNow.Add(time.Hour)); err == nil {
		t.Errorf("certificate verified against another root")
	}
}

func TestIssueNodeCertExplicitAndClampedExpiry(t *testing.T) {
	root := mustRoot(t, "cl", testNow)
	_, csr, _ := NewKeyAndCSR()
	want := testNow.Add(7 * 24 * time.Hour)
	p, err := root.IssueNodeCert(csr, "n", "cl", RoleManager, want, WithNow(testNow))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := ParseCertPEM(p)
	if !c.NotAfter.Equal(want) {
		t.Errorf("NotAfter = %v, want %v", c.NotAfter, want)
	}
	p, err = root.IssueNodeCert(csr, "n", "cl", RoleManager, testNow.Add(20*RootLifetime), WithNow(testNow))
	if err != nil {
		t.Fatal(err)
	}
	c, _ = ParseCertPEM(p)
	if !c.NotAfter.Equal(root.Cert().NotAfter) {
		t.Errorf("NotAfter = %v, want clamped to root expiry %v", c.NotAfter, root.Cert().NotAfter)
	}
}

func TestIssueNodeCertErrors(t *testing.T) {
	root := mustRoot(t, "cl", testNow)
	_, csr, _ := NewKeyAndCSR()
	badSig := bytes.Clone(csr)
	badSig[len(badSig)-5] ^= 0xff
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edCSR, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, edKey)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384CSR, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, p384)
	cases := []struct {
		name     string
		csr      []byte
		node, cl string
		role     Role
		notAfter time.Time
		want     error
	}{
		{"garbage csr", []byte("nope"), "n", "cl", RoleWorker, time.Time{}, ErrInvalidCSR},
		{"bad signature", badSig, "n", "cl", RoleWorker, time.Time{}, ErrInvalidCSR},
		{"ed25519 key", edCSR, "n", "cl", RoleWorker, time.Time{}, ErrInvalidCSR},
		{"p384 key", p384CSR, "n", "cl", RoleWorker, time.Time{}, ErrInvalidCSR},
		{"unknown role", csr, "n", "cl", Role("root"), time.Time{}, ErrInvalidIdentity},
		{"empty node", csr, "", "cl", RoleWorker, time.Time{}, ErrInvalidIdentity},
		{"other cluster", csr, "n", "other", RoleWorker, time.Time{}, ErrClusterMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := root.IssueNodeCert(tc.csr, tc.node, tc.cl, tc.role, tc.notAfter, WithNow(testNow))
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := root.IssueNodeCert(csr, "n", "cl", RoleWorker, testNow.Add(-time.Hour), WithNow(testNow)); err == nil || !strings.Contains(err.Error(), "expire") {
		t.Errorf("expiry in the past: err = %v", err)
	}
}

// selfSigned builds a certificate with the given subject, for identity tests.
func selfSigned(t *testing.T, subj pkix.Name) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: subj, NotBefore: testNow, NotAfter: testNow.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestIdentityFromCert(t *testing.T) {
	cases := []struct {
		name    string
		subj    pkix.Name
		want    Identity
		wantErr string
	}{
		{"manager", pkix.Name{CommonName: "m1", OrganizationalUnit: []string{"manager"}, Organization: []string{"c"}}, Identity{"m1", "c", RoleManager}, ""},
		{"admin", pkix.Name{CommonName: "ops", OrganizationalUnit: []string{"admin"}, Organization: []string{"c"}}, Identity{"ops", "c", RoleAdmin}, ""},
		{"no OU", pkix.Name{CommonName: "n", Organization: []string{"c"}}, Identity{}, "0 OU values"},
		{"two OUs", pkix.Name{CommonName: "n", OrganizationalUnit: []string{"worker", "manager"}, Organization: []string{"c"}}, Identity{}, "2 OU values"},
		{"unknown role", pkix.Name{CommonName: "n", OrganizationalUnit: []string{"Manager"}, Organization: []string{"c"}}, Identity{}, `unknown role "Manager"`},
		{"no O", pkix.Name{CommonName: "n", OrganizationalUnit: []string{"worker"}}, Identity{}, "0 O values"},
		{"empty CN", pkix.Name{OrganizationalUnit: []string{"worker"}, Organization: []string{"c"}}, Identity{}, "node ID (CN) is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := IdentityFromCert(selfSigned(t, tc.subj))
			if tc.wantErr != "" {
				if !errors.Is(err, ErrInvalidIdentity) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want ErrInvalidIdentity mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	if _, err := IdentityFromCert(nil); !errors.Is(err, ErrInvalidIdentity) {
		t.Errorf("nil cert err = %v", err)
	}
}

func TestSplitHostsAlwaysHasLoopback(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		hosts := rapid.SliceOf(rapid.SampledFrom([]string{"a.example", "10.1.2.3", "10.1.2.3:80", "::1", "[fd00::2]:9", "localhost", "", "b"})).Draw(t, "hosts")
		role := rapid.SampledFrom([]Role{RoleManager, RoleWorker, RoleAdmin}).Draw(t, "role")
		ips, dns := splitHosts(hosts, role)
		if !slices.ContainsFunc(ips, net.IPv4(127, 0, 0, 1).Equal) || !slices.Contains(dns, "localhost") || !slices.Contains(dns, ServerNameForRole(role)) {
			t.Fatalf("missing loopback or role name: %v %v", ips, dns)
		}
		seen := map[string]bool{}
		for _, ip := range ips {
			if seen[ip.String()] {
				t.Fatalf("duplicate IP %v", ip)
			}
			seen[ip.String()] = true
		}
		for _, d := range dns {
			if seen[d] || d == "" || strings.Contains(d, ":") {
				t.Fatalf("bad or duplicate DNS SAN %q", d)
			}
			seen[d] = true
		}
	})
}

func TestRenewAtWithinWindow(t *testing.T) {
	root := mustRoot(t, "cl", testNow)
	for _, life := range []time.Duration{DefaultNodeCertLifetime, time.Hour, MinNodeCertLifetime} {
		t.Run(life.String(), func(t *testing.T) {
			keyPEM, csr, err := NewKeyAndCSR()
			if err != nil {
				t.Fatal(err)
			}
			certPEM, err := root.IssueNodeCert(csr, "n", root.ClusterID(), RoleWorker, testNow.Add(life), WithNow(testNow))
			if err != nil {
				t.Fatal(err)
			}
			pair, err := KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			c := pair.Leaf
			// Measured from the issue time, not the backdated NotBefore:
			// with a short validity the renewal must not be due at once.
			lo, hi := testNow.Add(life/2), testNow.Add(life*8/10)
			rapid.Check(t, func(t *rapid.T) {
				var seed [32]byte
				copy(seed[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "seed"))
				at, err := RenewAt(c, mrand.NewChaCha8(seed))
				if err != nil {
					t.Fatal(err)
				}
				if at.Before(lo) || at.After(hi) {
					t.Fatalf("RenewAt = %v, want within [%v, %v]", at, lo, hi)
				}
			})
		})
	}
}
