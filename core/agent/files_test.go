package agent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/core/dispatcher"
	"github.com/shoal-project/shoal/core/secrets"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/diskscan"
	"github.com/shoal-project/shoal/internal/poll"
	"github.com/shoal-project/shoal/internal/testenv"
	"github.com/shoal-project/shoal/runtime"
)

// seedSecret stores the cluster's data key and a secret sec1 holding marker.
func seedSecret(t *testing.T, m *manager, marker []byte) {
	t.Helper()
	key, _ := secrets.NewKey(rand.Reader)
	sealed, err := secrets.Seal(key, "sec1", marker, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	err = m.st.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.Create(&shoalv1.Cluster{Id: "c1", Spec: &shoalv1.ClusterSpec{Name: "default"}, SecretDataKey: key}); err != nil {
			return err
		}
		return tx.Create(&shoalv1.Secret{Id: "sec1", Spec: &shoalv1.SecretSpec{Name: "pw"}, SealedData: sealed})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTaskReadsItsSecretWhichNeverReachesTheNodesDisk(t *testing.T) {
	testenv.Root(t, "the process backend mounts a tmpfs for a task's secrets")
	m := newManager(t, dispatcher.Config{})
	marker := []byte("marker-agent-9b8a7c6d")
	seedSecret(t, m, marker)
	backendDir, stateDir := t.TempDir(), t.TempDir()
	b := processBackend(t, backendDir)
	t.Cleanup(func() { b.Close() })
	cl := newClients(t, "n1", map[string]string{"m1": m.srv.URL})
	startAgent(t, Config{NodeID: "n1", Managers: []string{"m1"}, Client: cl.client, Backend: b, StateDir: stateDir})
	reader := processTask("reader", "n1", "/bin/sh", "-c", `sha256sum "$SHOAL_SECRETS_DIR/db"`)
	reader.Spec.Secrets = []*shoalv1.SecretReference{{SecretId: "sec1", SecretName: "pw", Target: "db", Mode: 0o400}}
	lost := processTask("lost", "n1", "true")
	lost.Spec.Secrets = []*shoalv1.SecretReference{{SecretId: "gone", SecretName: "gone", Target: "gone"}}
	m.create(t, reader, lost)
	poll.Until(t, "reader COMPLETE", func() bool { return m.state("reader") == stComplete })
	poll.Until(t, "lost REJECTED", func() bool { return m.state("lost") == stRejected })
	if e := m.task("lost").GetStatus().GetErr(); !strings.Contains(e, `secret "gone"`) {
		t.Errorf("lost task's error = %q; want it to name the secret", e)
	}
	ctl, err := b.Controller(&runtime.TaskSpec{TaskID: "reader"})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan runtime.LogLine, 16)
	if err := ctl.Logs(context.Background(), runtime.LogOptions{Tail: -1}, out); err != nil {
		t.Fatal(err)
	}
	close(out)
	sum := sha256.Sum256(marker)
	var got string
	for l := range out {
		got += string(l.Data)
	}
	if !strings.Contains(got, hex.EncodeToString(sum[:])) {
		t.Fatalf("the task did not read its secret: output %q", got)
	}
	for _, dir := range []string{stateDir, backendDir} {
		if hits, _ := diskscan.Containing(dir, marker, nil); len(hits) > 0 {
			t.Fatalf("the secret's plaintext is on the node's disk: %v", hits)
		}
	}
}
