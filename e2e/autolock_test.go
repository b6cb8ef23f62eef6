package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	bolt "go.etcd.io/bbolt"

	"github.com/shoal-project/shoal/core/autolock"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// TestAutolock: with autolock on, a manager's Raft data (log and snapshot)
// holds no plaintext of a label written into the store, nor the CA key; a
// restarted manager serves nothing until it is unlocked, refuses a wrong
// key, and the other managers keep the cluster working meanwhile; turning
// autolock off lets a manager restart on its own.
func TestAutolock(t *testing.T) {
	c := newCluster(t, "--raft-tick", "50ms")
	m1 := c.init("m1", "--autolock", "--snapshot-interval", "100")
	m2 := c.joinManager("m2", m1)
	m3 := c.joinManager("m3", m1)
	key := strings.TrimSpace(mustRun(t, "--data-dir", m1.dir, "unlock-key", "-q"))
	if _, err := autolock.ParseKey(key); err != nil {
		t.Fatalf("unlock-key -q printed %q: %v", key, err)
	}

	marker := plMark(t, "autolock")
	labelNode(t, m1, m1.nodeID, map[string]string{"marker": marker})
	for i := range 120 { // past the snapshot interval: the marker is in a snapshot too
		labelNode(t, m1, m1.nodeID, map[string]string{"counter": strconv.Itoa(i)})
	}
	eventually(t, waitTimeout, "m3 applied the writes", func() error { return wantLabel(t, m3, m1.nodeID, "counter", "119") })
	if err := m3.stop(); err != nil {
		t.Fatalf("stop m3: %v", err)
	}
	wantSealedRaftDir(t, m3.dir, marker)

	m3.restart("run", "--data-dir", m3.dir)
	eventually(t, waitTimeout, "restarted m3 says it is locked", func() error {
		r := m3.cli(t, "--local", "node", "ls")
		if r.Code == 0 || !strings.Contains(r.Stderr, "locked") {
			return fmt.Errorf("node ls on m3: %s", r)
		}
		return nil
	})
	if conn, err := net.DialTimeout("tcp", m3.addr, 5*time.Second); err == nil {
		conn.Close()
		t.Fatalf("locked m3 accepts connections on %s", m3.addr)
	}
	labelNode(t, m2, m1.nodeID, map[string]string{"while-locked": "yes"})

	wrong, _ := autolock.NewKey(bytesOf(7))
	for _, k := range []string{wrong.String(), "SHLKEY-1-nonsense"} {
		if r := m3.cli(t, "unlock", "--key", k); r.Code == 0 || !strings.Contains(r.Stderr, "unlock_key") {
			t.Fatalf("unlock with %q: %s", k, r)
		}
	}
	if r := m3.cli(t, "--local", "node", "ls"); r.Code == 0 {
		t.Fatalf("m3 answers after a wrong key:\n%s", r)
	}
	if r := m3.cli(t, "unlock", "--key", key); r.Code != 0 {
		t.Fatalf("unlock with the right key: %s", r)
	}
	eventually(t, waitTimeout, "unlocked m3 caught up", func() error { return wantLabel(t, m3, m1.nodeID, "while-locked", "yes") })

	rotated, err := autolock.ParseKey(mustRun(t, "--data-dir", m2.dir, "unlock-key", "--rotate", "-q"))
	if err != nil || rotated.String() == key {
		t.Fatalf("unlock-key --rotate: %v (same key: %v)", err, rotated.String() == key)
	}
	eventually(t, waitTimeout, "m3 rewrapped its data key under the rotated key", func() error {
		_, err := autolock.Unlock(filepath.Join(m3.dir, "raft"), rotated)
		return err
	})

	if r := m1.cli(t, "cluster", "update", "--autolock=false"); r.Code != 0 {
		t.Fatalf("cluster update --autolock=false: %s", r)
	}
	eventually(t, waitTimeout, "m2 keeps its data key unwrapped", func() error {
		if autolock.IsLocked(filepath.Join(m2.dir, "raft")) {
			return fmt.Errorf("m2's key file is still wrapped")
		}
		return nil
	})
	if err := m2.stop(); err != nil {
		t.Fatalf("stop m2: %v", err)
	}
	m2.restart("run", "--data-dir", m2.dir)
	c.waitReady(m2)
}

func bytesOf(b byte) *bytes.Reader { return bytes.NewReader(bytes.Repeat([]byte{b}, 64)) }

func labelNode(t testing.TB, via *manager, nodeID string, labels map[string]string) {
	t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	if _, err := via.apiClient(t, false).Control.UpdateNode(ctx, connect.NewRequest(&shoalv1.UpdateNodeRequest{Node: nodeID, LabelAdd: labels})); err != nil {
		t.Fatalf("label node %s via %s: %v", nodeID, via.name, err)
	}
}

// wantLabel checks m's own store for a label of node id.
func wantLabel(t testing.TB, m *manager, id, k, v string) error {
	n, err := m.inspect(t, true, id)
	if err != nil {
		return err
	}
	if got := n.GetSpec().GetLabels()[k]; got != v {
		return fmt.Errorf("label %s=%q, want %q", k, got, v)
	}
	return nil
}

// wantSealedRaftDir checks a stopped manager's data dir: its data key is
// wrapped, raft.db holds a snapshot and raft.wal log entries, no file holds marker
// and no file of the Raft directory a private key in plain text.
func wantSealedRaftDir(t *testing.T, dataDir, marker string) {
	t.Helper()
	dir := filepath.Join(dataDir, "raft")
	if !autolock.IsLocked(dir) {
		t.Fatal("the data key file is not wrapped")
	}
	db, err := bolt.Open(filepath.Join(dir, "raft.db"), 0o600, &bolt.Options{ReadOnly: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var snapChunks int
	_ = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte("snapshot")); b != nil {
			snapChunks = b.Stats().KeyN
		}
		return nil
	})
	db.Close()
	// The log entries are in raft.wal (core/raft/storage/wal.go): records
	// of length, crc, kind, payload, then zeros.
	logBytes, err := os.ReadFile(filepath.Join(dir, "raft.wal"))
	if err != nil {
		t.Fatal(err)
	}
	entries := 0
	for off := 0; off+9 <= len(logBytes); {
		n := int(binary.BigEndian.Uint32(logBytes[off:]))
		if n == 0 || off+8+n > len(logBytes) {
			break
		}
		if logBytes[off+8] == 1 {
			entries++
		}
		off += 8 + n
	}
	if snapChunks < 3 || entries == 0 {
		t.Fatalf("raft.db holds %d snapshot keys and raft.wal %d entries: want a snapshot and a log", snapChunks, entries)
	}
	files := 0
	err = filepath.WalkDir(dataDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		// Node keys live in certs/ and admin/; the CA key only in the store.
		if bytes.Contains(b, []byte(marker)) || filepath.Dir(path) == dir && bytes.Contains(b, []byte("PRIVATE KEY")) {
			return fmt.Errorf("%s holds the marker or a private key in plain text", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("data dir sealed: %d files, %d snapshot keys in raft.db, %d log entries in raft.wal", files, snapChunks, entries)
}
