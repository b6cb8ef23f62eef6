package api

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/secrets"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// recordingProposer keeps every proposed entry, as the Raft log would.
type recordingProposer struct {
	*store.MemoryProposer
	mu      sync.Mutex
	entries [][]byte
}

func (p *recordingProposer) Propose(ctx context.Context, payload []byte) error {
	p.mu.Lock()
	p.entries = append(p.entries, bytes.Clone(payload))
	p.mu.Unlock()
	return p.MemoryProposer.Propose(ctx, payload)
}

func newRecordedServer(t *testing.T) (*Server, *store.Store, *recordingProposer) {
	p := &recordingProposer{MemoryProposer: store.NewMemoryProposer()}
	st := store.New(p)
	p.Bind(st)
	s, _, _ := newTestServerOn(t, st, Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true})
	return s, st, p
}

func createSecret(t *testing.T, s *Server, name string, data []byte) *shoalv1.Secret {
	t.Helper()
	res, err := s.CreateSecret(context.Background(), connect.NewRequest(&shoalv1.CreateSecretRequest{Spec: &shoalv1.SecretSpec{Name: name, Data: data}}))
	if err != nil {
		t.Fatal(err)
	}
	return res.Msg.GetSecret()
}

func TestSecretPlaintextIsInNoEntryNorSnapshotNorAnswer(t *testing.T) {
	s, st, p := newRecordedServer(t)
	ctx := context.Background()
	marker := []byte("marker-7d1e5b0c-plaintext")
	created := createSecret(t, s, "db-pass", marker)
	if created.GetSize() != uint64(len(marker)) || len(created.GetSealedData()) != 0 || created.GetMeta().GetVersion() == 0 {
		t.Fatalf("CreateSecret answer = %v: want size, meta and no data", created)
	}
	for i, e := range p.entries {
		if bytes.Contains(e, marker) {
			t.Fatalf("raft entry %d holds the plaintext", i)
		}
	}
	snap, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(snap, marker) {
		t.Fatal("the snapshot holds the plaintext")
	}
	var key, sealed []byte
	_ = st.View(func(tx store.ReadTx) error {
		c, _ := clusterObj(tx)
		key, sealed = c.GetSecretDataKey(), tx.GetSecret(created.GetId()).GetSealedData()
		return nil
	})
	if got, err := secrets.Open(key, created.GetId(), sealed); err != nil || !bytes.Equal(got, marker) {
		t.Fatalf("sealed data opens to %q, %v; want the plaintext", got, err)
	}
	got, err := s.GetSecret(ctx, connect.NewRequest(&shoalv1.GetSecretRequest{Secret: "db-pass"}))
	if err != nil || len(got.Msg.GetSecret().GetSealedData()) != 0 || got.Msg.GetSecret().GetId() != created.GetId() {
		t.Fatalf("GetSecret = %v, %v: want the secret without its data", got.Msg, err)
	}
	list, err := s.ListSecrets(ctx, connect.NewRequest(&shoalv1.ListSecretsRequest{}))
	if err != nil || len(list.Msg.GetSecrets()) != 1 || len(list.Msg.GetSecrets()[0].GetSealedData()) != 0 {
		t.Fatalf("ListSecrets = %v, %v", list.Msg, err)
	}
	cl, err := s.GetCluster(ctx, connect.NewRequest(&shoalv1.GetClusterRequest{}))
	if err != nil || len(cl.Msg.GetCluster().GetSecretDataKey()) != 0 {
		t.Fatalf("GetCluster carries the secret data key (%v)", err)
	}
	second := createSecret(t, s, "other", []byte("x"))
	_ = st.View(func(tx store.ReadTx) error {
		c, _ := clusterObj(tx)
		if !bytes.Equal(c.GetSecretDataKey(), key) {
			t.Error("the second secret made a new data key")
		}
		if _, err := secrets.Open(key, second.GetId(), tx.GetSecret(second.GetId()).GetSealedData()); err != nil {
			t.Error(err)
		}
		return nil
	})
}

func withFiles(sp *shoalv1.ServiceSpec, secs []*shoalv1.SecretReference, cfgs []*shoalv1.ConfigReference) *shoalv1.ServiceSpec {
	sp.Task.Secrets, sp.Task.Configs = secs, cfgs
	return sp
}

func TestServiceFileReferencesResolveToIDsWithDefaults(t *testing.T) {
	s, _, _ := newTestServer(t, Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true})
	ctx := context.Background()
	sec := createSecret(t, s, "db-pass", []byte("pw"))
	cfg, err := s.CreateConfig(ctx, connect.NewRequest(&shoalv1.CreateConfigRequest{Spec: &shoalv1.ConfigSpec{Name: "app.conf", Data: []byte("a=1")}}))
	if err != nil {
		t.Fatal(err)
	}
	sp := withFiles(goodSpec(), []*shoalv1.SecretReference{{SecretName: "db-pass"}, {SecretName: sec.GetId()[:6], Target: "copy", Mode: 0o440}},
		[]*shoalv1.ConfigReference{{ConfigName: "app.conf"}})
	res, err := s.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{Spec: sp}))
	if err != nil {
		t.Fatal(err)
	}
	task := res.Msg.GetService().GetSpec().GetTask()
	want := []string{"db-pass db-pass 400", "db-pass copy 440"}
	for i, r := range task.GetSecrets() {
		if r.GetSecretId() != sec.GetId() {
			t.Errorf("secrets[%d].secret_id = %q, want %q", i, r.GetSecretId(), sec.GetId())
		}
		if got := r.GetSecretName() + " " + r.GetTarget() + " " + fmt.Sprintf("%o", r.GetMode()); got != want[i] {
			t.Errorf("secrets[%d] = %q, want %q", i, got, want[i])
		}
	}
	c := task.GetConfigs()[0]
	if c.GetConfigId() != cfg.Msg.GetConfig().GetId() || c.GetTarget() != "/app.conf" || c.GetMode() != 0o444 {
		t.Errorf("configs[0] = %v, want the config's ID, target /app.conf, mode 0444", c)
	}
	// Sending the stored spec back changes nothing (the CLI's update path).
	up, err := s.UpdateService(ctx, connect.NewRequest(&shoalv1.UpdateServiceRequest{Service: "web", Spec: res.Msg.GetService().GetSpec()}))
	if err != nil || up.Msg.GetService().GetSpecVersion() != 1 {
		t.Fatalf("update with the same spec: %v, spec version %d", err, up.Msg.GetService().GetSpecVersion())
	}
}

func countKind(t *testing.T, st *store.Store, k store.Kind) int {
	n := 0
	_ = st.View(func(tx store.ReadTx) error { n, _ = tx.Count(k, store.All()); return nil })
	return n
}

func TestSecretBadInputIsRefusedAndChangesNothing(t *testing.T) {
	s, st, _ := newTestServer(t, Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true})
	ctx := context.Background()
	createSecret(t, s, "used", []byte("pw"))
	if _, err := s.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{
		Spec: withFiles(goodSpec(), []*shoalv1.SecretReference{{SecretName: "used"}}, nil)})); err != nil {
		t.Fatal(err)
	}
	other := goodSpec()
	other.Name = "other"
	cases := []struct {
		name string
		call func() error
		code connect.Code
		says string
	}{
		{"secret too large", func() error {
			_, err := s.CreateSecret(ctx, connect.NewRequest(&shoalv1.CreateSecretRequest{Spec: &shoalv1.SecretSpec{Name: "big", Data: make([]byte, secrets.MaxSize+1)}}))
			return err
		}, connect.CodeInvalidArgument, "500 KiB"},
		{"empty secret", func() error {
			_, err := s.CreateSecret(ctx, connect.NewRequest(&shoalv1.CreateSecretRequest{Spec: &shoalv1.SecretSpec{Name: "e"}}))
			return err
		}, connect.CodeInvalidArgument, "spec.data"},
		{"bad name", func() error {
			_, err := s.CreateSecret(ctx, connect.NewRequest(&shoalv1.CreateSecretRequest{Spec: &shoalv1.SecretSpec{Name: "a/b", Data: []byte("x")}}))
			return err
		}, connect.CodeInvalidArgument, "spec.name"},
		{"name taken", func() error {
			_, err := s.CreateSecret(ctx, connect.NewRequest(&shoalv1.CreateSecretRequest{Spec: &shoalv1.SecretSpec{Name: "USED", Data: []byte("x")}}))
			return err
		}, connect.CodeAlreadyExists, "spec.name"},
		{"unknown secret in a service", func() error {
			_, err := s.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{
				Spec: withFiles(other, []*shoalv1.SecretReference{{SecretName: "nosuch"}}, nil)}))
			return err
		}, connect.CodeNotFound, `spec.task.secrets[0]: secret "nosuch" not found`},
		{"secret in use removed", func() error {
			_, err := s.RemoveSecret(ctx, connect.NewRequest(&shoalv1.RemoveSecretRequest{Secret: "used"}))
			return err
		}, connect.CodeFailedPrecondition, `in use by service(s) web`},
		{"two files on one target", func() error {
			_, err := s.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{
				Spec: withFiles(other, []*shoalv1.SecretReference{{SecretName: "used"}, {SecretName: "used"}}, nil)}))
			return err
		}, connect.CodeInvalidArgument, "/run/secrets/used"},
		{"secret target with a slash", func() error {
			_, err := s.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{
				Spec: withFiles(other, []*shoalv1.SecretReference{{SecretName: "used", Target: "../x"}}, nil)}))
			return err
		}, connect.CodeInvalidArgument, "spec.task.secrets[0].target"},
		{"relative config target", func() error {
			_, err := s.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{
				Spec: withFiles(other, nil, []*shoalv1.ConfigReference{{ConfigName: "c", Target: "etc/x"}})}))
			return err
		}, connect.CodeInvalidArgument, "spec.task.configs[0].target"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if codeOf(err) != tc.code || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err = %v; want %v saying %q", err, tc.code, tc.says)
			}
			if n, m := countKind(t, st, store.KindSecret), countKind(t, st, store.KindService); n != 1 || m != 1 {
				t.Fatalf("%d secrets and %d services after a refused call; want 1 and 1", n, m)
			}
		})
	}
	if _, err := s.RemoveService(ctx, connect.NewRequest(&shoalv1.RemoveServiceRequest{Service: "web"})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveSecret(ctx, connect.NewRequest(&shoalv1.RemoveSecretRequest{Secret: "used"})); err != nil {
		t.Fatalf("removing an unused secret: %v", err)
	}
}

// FuzzValidateSecretSpec: validation never panics, and what it accepts is
// a storable secret.
func FuzzValidateSecretSpec(f *testing.F) {
	f.Add("db-pass", []byte("pw"), "k", "v")
	f.Add("", []byte{}, "", "")
	f.Add("a.b_c-d", make([]byte, secrets.MaxSize), "x/y", "")
	f.Add("../etc", []byte("x"), "-", "v")
	f.Fuzz(func(t *testing.T, name string, data []byte, lk, lv string) {
		sp := &shoalv1.SecretSpec{Name: name, Data: data, Labels: map[string]string{lk: lv}}
		if validateSecretSpec(sp) != nil {
			return
		}
		if len(data) == 0 || len(data) > secrets.MaxSize || len(name) > 64 || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
			t.Fatalf("accepted %q with %d bytes", name, len(data))
		}
	})
}
