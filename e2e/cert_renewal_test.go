package e2e

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// nodeCert reads the leaf certificate a node keeps in its data dir.
func nodeCert(t testing.TB, dataDir string) (*x509.Certificate, error) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "certs", "node.crt"))
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("no PEM block in %s", dataDir)
	}
	return x509.ParseCertificate(blk.Bytes)
}

// With `shoal init --cert-expiry 40s` every node renews its certificate
// before it expires (at 50-80 % of its life), and after the first
// certificates expired a worker restarted from disk still handshakes with
// the manager both ways (each presents its renewed certificate) and runs
// new tasks.
func TestCertRenewal(t *testing.T) {
	const expiry = 40 * time.Second
	var marks []string
	c := plNewCluster(t, &marks, "--raft-tick", "50ms")
	m1 := c.init("m1", "--heartbeat-period", "1s", "--cert-expiry", expiry.String())
	w1 := plJoinWorker(t, c, "w1", m1)
	first := map[string]*x509.Certificate{}
	for _, n := range []*manager{m1, w1} {
		cert, err := nodeCert(t, n.dir)
		if err != nil {
			t.Fatal(err)
		}
		if life := cert.NotAfter.Sub(time.Now()); life > expiry {
			t.Fatalf("%s's certificate is valid for %s, want at most %s", n.name, life, expiry)
		}
		first[n.name] = cert
	}
	for _, n := range []*manager{m1, w1} {
		d := eventually(t, 2*expiry, n.name+" renewed its certificate", func() error {
			cert, err := nodeCert(t, n.dir)
			if err != nil {
				return err
			}
			if cert.SerialNumber.Cmp(first[n.name].SerialNumber) == 0 {
				return fmt.Errorf("still the first certificate (expires %s)", first[n.name].NotAfter.Format(time.TimeOnly))
			}
			if !cert.NotAfter.After(first[n.name].NotAfter) {
				return fmt.Errorf("renewed certificate expires %s, not later than the first", cert.NotAfter)
			}
			return nil
		})
		t.Logf("%s renewed its certificate %s into the wait", n.name, d.Round(time.Millisecond))
	}
	// Let the first certificates expire, then make the worker handshake
	// afresh: it restarts from its data dir.
	if wait := time.Until(first["m1"].NotAfter.Add(2 * time.Second)); wait > 0 {
		time.Sleep(wait)
	}
	if wait := time.Until(first["w1"].NotAfter.Add(2 * time.Second)); wait > 0 {
		time.Sleep(wait)
	}
	if err := w1.stop(); err != nil {
		t.Fatalf("stop w1: %v", err)
	}
	w1.restart("run", "--data-dir", w1.dir)
	eventually(t, waitTimeout, "the restarted w1 is READY", func() error {
		if !w1.running() {
			return fmt.Errorf("w1 exited:\n%s", tail(w1.logPath, 20))
		}
		n, err := nodeByName(t, m1, "w1")
		if err != nil {
			return err
		}
		if s := n.GetStatus().GetState(); s != shoalv1.NodeState_NODE_STATE_READY {
			return fmt.Errorf("w1 is %v", s)
		}
		return nil
	})
	mark := plCreateLoopService(t, m1, &marks, "after", "--replicas", "2", "--constraint", "node.role==worker")
	plWaitProcs(t, mark, 2, m1, "after")
	if r := m1.cli(t, "node", "ls"); r.Code != 0 || !strings.Contains(r.Stdout, "w1") {
		t.Fatalf("node ls: %s", r)
	}
}
