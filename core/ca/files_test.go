package ca

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSaveLoadNodeTLS(t *testing.T) {
	root := mustRoot(t, "cl", testNow)
	certPEM, keyPEM, _ := mustNode(t, root, "w1", RoleWorker, testNow)
	dir := filepath.Join(t.TempDir(), "tls")
	if err := SaveNodeTLS(dir, certPEM, keyPEM, root.CertPEM); err != nil {
		t.Fatalf("SaveNodeTLS: %v", err)
	}
	n, err := LoadNodeTLS(dir)
	if err != nil {
		t.Fatalf("LoadNodeTLS: %v", err)
	}
	if n.Identity != (Identity{NodeID: "w1", ClusterID: "cl", Role: RoleWorker}) {
		t.Errorf("identity = %+v", n.Identity)
	}
	if n.Root.Digest() != root.Digest() || n.Root.CanSign() || n.Certificate.Leaf == nil {
		t.Errorf("loaded root %s canSign %v leaf %v", n.Root.Digest(), n.Root.CanSign(), n.Certificate.Leaf)
	}
	wantPerm := map[string]os.FileMode{NodeKeyFile: 0o600, NodeCertFile: 0o644, RootCertFile: 0o644}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("dir holds %v, want exactly the three files (no temp files)", names)
	}
	for name, perm := range wantPerm {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != perm {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), perm)
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", fi.Mode().Perm())
	}

	// Renewal with the same key: cert only.
	renewed, err := root.IssueNodeCert(mustCSRFor(t, keyPEM), "w1", "cl", RoleManager, testNow.Add(DefaultNodeCertLifetime*2), WithNow(testNow))
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveNodeTLS(dir, renewed, nil, root.CertPEM); err != nil {
		t.Fatal(err)
	}
	n, err = LoadNodeTLS(dir)
	if err != nil || n.Identity.Role != RoleManager {
		t.Fatalf("after renewal: %+v, %v", n.Identity, err)
	}
}

func TestLoadNodeTLSErrors(t *testing.T) {
	root := mustRoot(t, "cl", testNow)
	other := mustRoot(t, "cl", testNow)
	certPEM, keyPEM, _ := mustNode(t, root, "w1", RoleWorker, testNow)
	_, otherKey, _ := mustNode(t, root, "w2", RoleWorker, testNow)

	if _, err := LoadNodeTLS(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty dir: err = %v, want fs.ErrNotExist", err)
	}
	cases := []struct {
		name                  string
		cert, key, rootPEM    []byte
		want                  error
		wantMessageSubstrings string
	}{
		{"key of another node", certPEM, otherKey, root.CertPEM, ErrInvalidNodeTLS, "private key does not match"},
		{"root of another CA", certPEM, keyPEM, other.CertPEM, ErrInvalidNodeTLS, "not signed by root.crt"},
		{"garbage root", certPEM, keyPEM, []byte("x"), ErrInvalidNodeTLS, "root.crt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := SaveNodeTLS(dir, tc.cert, tc.key, tc.rootPEM); err != nil {
				t.Fatal(err)
			}
			_, err := LoadNodeTLS(dir)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantMessageSubstrings) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tc.want, tc.wantMessageSubstrings)
			}
		})
	}
}

func TestSaveNodeTLSFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SaveNodeTLS(filepath.Join(blocker, "tls"), []byte("c"), []byte("k"), []byte("r")); err == nil {
		t.Fatalf("SaveNodeTLS under a file succeeded")
	}
}

func TestLoadClientTLSPresentsTheSavedCertificate(t *testing.T) {
	root := mustRoot(t, "cl", testNow)
	certPEM, keyPEM, _ := mustNode(t, root, "ops", RoleAdmin, testNow)
	dir := filepath.Join(t.TempDir(), "admin")
	if _, err := LoadClientTLS(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadClientTLS of a missing dir: err = %v, want fs.ErrNotExist", err)
	}
	if err := SaveNodeTLS(dir, certPEM, keyPEM, root.CertPEM); err != nil {
		t.Fatal(err)
	}
	conf, err := LoadClientTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := conf.GetClientCertificate(nil)
	if err != nil || cert.Leaf == nil || cert.Leaf.Subject.CommonName != "ops" {
		t.Fatalf("client certificate %v, %v; want the saved one (CN ops)", cert, err)
	}
}

// mustCSRFor makes a CSR for an existing key (renewal keeps the key).
func mustCSRFor(t *testing.T, keyPEM []byte) []byte {
	t.Helper()
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509CreateCSR(key)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}
