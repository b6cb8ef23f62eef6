package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/ca"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
)

// TestRootCARotation rotates the root CA of a 3-manager, 2-worker cluster
// running a service while one worker is stopped: no task restarts, every
// node that was up ends with a certificate from the new root and trusts
// only it, the join tokens pin the new root, the stopped worker's old
// certificate is refused, and the worker rejoins with the new token.
func TestRootCARotation(t *testing.T) {
	var marks []string
	c := plNewCluster(t, &marks, "--raft-tick", "50ms")
	m1 := c.init("m1", "--heartbeat-period", "1s")
	m2 := c.joinManager("m2", m1)
	m3 := c.joinManager("m3", m1)
	w1 := plJoinWorker(t, c, "w1", m1)
	w2 := plJoinWorker(t, c, "w2", m1)
	oldToken := strings.TrimSpace(mustRun(t, "--data-dir", m1.dir, "join-token", "worker", "-q"))

	// w2 is away for the whole rotation.
	if err := w2.stop(); err != nil {
		t.Fatalf("stop w2: %v", err)
	}
	eventually(t, waitTimeout, "w2 is DOWN", func() error { return wantNodeState(t, m1, "w2", shoalv1.NodeState_NODE_STATE_DOWN) })
	mark := plCreateLoopService(t, m1, &marks, "web", "--replicas", "3")
	before := runningTaskIDs(t, m1, "web")

	r := runTimeout(t, 3*time.Minute, "--data-dir", m1.dir, "ca", "rotate")
	if r.Code != 0 || !strings.Contains(r.Stderr, "rotated CA certificates:   [") || !strings.Contains(r.Stderr, "done") {
		t.Fatalf("ca rotate:\n%s", r)
	}
	newDigest := strings.TrimSpace(r.Stdout)
	t.Logf("ca rotate:\n%s", r.Stderr)
	newRoot, err := ca.ParseRootCA([]byte(mustRun(t, "--data-dir", m2.dir, "ca", "--pem")), nil)
	if err != nil || newRoot.Digest() != newDigest {
		t.Fatalf("ca --pem: %v, digest %s, want %s", err, newRoot.Digest(), newDigest)
	}
	if out := mustRun(t, "--data-dir", m3.dir, "ca"); !strings.Contains(out, newDigest) || !strings.Contains(out, "Rotation:  none") {
		t.Fatalf("ca after the rotation:\n%s", out)
	}

	for _, n := range []*manager{m1, m2, m3, w1} {
		eventually(t, waitTimeout, n.name+" holds a certificate from the new root and trusts only it", func() error {
			return wantOnNewRoot(n.dir, newRoot, "certs")
		})
	}
	if after := runningTaskIDs(t, m1, "web"); !slices.Equal(before, after) {
		t.Fatalf("tasks changed during the rotation: before %v, after %v", before, after)
	}
	plWaitProcs(t, mark, 3, m1, "web")

	newToken := strings.TrimSpace(mustRun(t, "--data-dir", m1.dir, "join-token", "worker", "-q"))
	if tok, err := ca.ParseJoinToken(newToken); err != nil || tok.CADigest != newDigest {
		t.Fatalf("worker token %s after the rotation: %v, want digest %s", newToken, err, newDigest)
	}
	wantOldRootRefused(t, w2.dir, w1.dir, m1.addr)
	eventually(t, waitTimeout, "the admin certificate of m1 works with --host", func() error {
		if r := run(t, "--host", m2.addr, "--tls-dir", filepath.Join(m1.dir, "admin"), "node", "ls"); r.Code != 0 {
			return fmt.Errorf("%s", r)
		}
		return wantOnNewRoot(filepath.Join(m1.dir, "admin"), newRoot, "")
	})

	if r := m1.cli(t, "node", "rm", "--force", w2.nodeID); r.Code != 0 {
		t.Fatalf("node rm w2: %s", r)
	}
	if r := runTimeout(t, 30*time.Second, "join", "--data-dir", filepath.Join(c.base, "w2-old-token"), "--hostname", "w2-old-token", "--token", oldToken, m1.addr); r.Code == 0 || !strings.Contains(r.Stderr, "digest") {
		t.Fatalf("join with the token from before the rotation: %s", r)
	}
	w2b := plJoinWorker(t, c, "w2-rejoined", m1)
	if err := wantOnNewRoot(w2b.dir, newRoot, "certs"); err != nil {
		t.Fatalf("rejoined w2: %v", err)
	}
}

func wantNodeState(t testing.TB, m *manager, name string, want shoalv1.NodeState) error {
	n, err := nodeByName(t, m, name)
	if err != nil {
		return err
	}
	if s := n.GetStatus().GetState(); s != want {
		return fmt.Errorf("%s is %v", name, s)
	}
	return nil
}

// runningTaskIDs lists the IDs of svc's running tasks, sorted.
func runningTaskIDs(t testing.TB, m *manager, svc string) []string {
	t.Helper()
	ts, err := serviceTasks(t, m, svc)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tk := range ts {
		if isRunning(tk) {
			ids = append(ids, tk.GetId())
		}
	}
	slices.Sort(ids)
	return ids
}

// wantOnNewRoot checks a TLS dir under a node's data dir: its certificate
// was issued by root and root.crt holds root alone.
func wantOnNewRoot(dir string, root *ca.RootCA, sub string) error {
	tlsM, err := ca.LoadNodeTLS(filepath.Join(dir, sub))
	if err != nil {
		return err
	}
	if !ca.IssuedBy(tlsM.CertPEM, root) {
		return fmt.Errorf("certificate issued by %s", tlsM.Certificate.Leaf.Issuer)
	}
	if len(tlsM.Roots) != 1 || tlsM.Root.Digest() != root.Digest() {
		return fmt.Errorf("trusts %d roots, the first %s", len(tlsM.Roots), tlsM.Root.Digest())
	}
	return nil
}

// wantOldRootRefused calls a manager with the certificate in oldDir (from
// the old root): refused; and, to show the call can succeed, with the one
// in newDir.
func wantOldRootRefused(t *testing.T, oldDir, newDir, addr string) {
	t.Helper()
	for _, tc := range []struct {
		dir    string
		wantOK bool
	}{{newDir, true}, {oldDir, false}} {
		tlsM, err := ca.LoadNodeTLS(filepath.Join(tc.dir, "certs"))
		if err != nil {
			t.Fatal(err)
		}
		cl := shoalv1connect.NewCAServiceClient(tlsClient(ca.ClientTLSConfigFromHolder(tlsM.Trust(), ca.NewCertHolder(tlsM.Certificate), ""), nil), "https://"+addr, connect.WithGRPC())
		ctx, cancel := callCtx()
		_, err = cl.NodeCertificateStatus(ctx, connect.NewRequest(&shoalv1.NodeCertificateStatusRequest{NodeId: tlsM.Identity.NodeID}))
		cancel()
		if (err == nil) != tc.wantOK {
			t.Fatalf("NodeCertificateStatus with the certificate in %s: err %v, want ok=%v", tc.dir, err, tc.wantOK)
		}
		t.Logf("certificate of %s: err %v", filepath.Base(tc.dir), err)
	}
}
