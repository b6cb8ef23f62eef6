package dispatcher

import (
	"crypto/rand"
	"testing"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/secrets"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// seedFiles stores a cluster with a data key, the secret sec1 ("s3cret")
// and the config cfg1.
func seedFiles(t *testing.T, h *harness) {
	key, err := secrets.NewKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := secrets.Seal(key, "sec1", []byte("s3cret"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	err = h.st.Update(h.ctx, func(tx store.Tx) error {
		for _, o := range []store.Object{
			&shoalv1.Cluster{Id: "c1", Spec: &shoalv1.ClusterSpec{Name: "default"}, SecretDataKey: key},
			&shoalv1.Secret{Id: "sec1", Spec: &shoalv1.SecretSpec{Name: "pw"}, SealedData: sealed},
			&shoalv1.Config{Id: "cfg1", Spec: &shoalv1.ConfigSpec{Name: "app", Data: []byte("a=1")}},
		} {
			if err := tx.Create(o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fileTask(id, node string, secret bool) *shoalv1.Task {
	t := newTask(id, node, shoalv1.TaskState_TASK_STATE_ASSIGNED, shoalv1.TaskState_TASK_STATE_RUNNING)
	t.Spec.Configs = []*shoalv1.ConfigReference{{ConfigId: "cfg1", Target: "/app"}}
	if secret {
		t.Spec.Secrets = []*shoalv1.SecretReference{{SecretId: "sec1", Target: "pw"}}
	}
	return t
}

func fileNames(fs []*shoalv1.AssignedFile) string {
	s := ""
	for _, f := range fs {
		s += f.GetId() + "=" + string(f.GetData()) + ";"
	}
	return s
}

func TestSecretsGoOnlyToNodesWhoseTasksUseThem(t *testing.T) {
	h := newHarness(t, Config{})
	seedFiles(t, h)
	h.createTasks(fileTask("t1", "n1", true), fileTask("t2", "n2", false))
	first := map[string]*shoalv1.AssignmentsMessage{}
	streams := map[string]*connect.ServerStreamForClient[shoalv1.AssignmentsMessage]{}
	for _, n := range []string{"n1", "n2"} {
		c := h.client(n)
		sess, _ := h.openSession(c, n, Version)
		as, err := c.Assignments(h.ctx, connect.NewRequest(&shoalv1.AssignmentsRequest{SessionId: sess.GetSessionId()}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = as.Close() })
		if !as.Receive() {
			t.Fatal(as.Err())
		}
		first[n], streams[n] = as.Msg(), as
	}
	cases := []struct{ node, secrets, configs string }{
		{"n1", "sec1=s3cret;", "cfg1=a=1;"},
		{"n2", "", "cfg1=a=1;"},
	}
	for _, tc := range cases {
		m := first[tc.node]
		if got := fileNames(m.GetSecrets()); got != tc.secrets {
			t.Errorf("%s secrets = %q, want %q", tc.node, got, tc.secrets)
		}
		if got := fileNames(m.GetConfigs()); got != tc.configs {
			t.Errorf("%s configs = %q, want %q", tc.node, got, tc.configs)
		}
	}
	// Once n1's task is gone, its messages carry the secret no more.
	h.updateTask("t1", func(t *shoalv1.Task) { t.DesiredState = shoalv1.TaskState_TASK_STATE_REMOVE })
	if !streams["n1"].Receive() {
		t.Fatal(streams["n1"].Err())
	}
	if m := streams["n1"].Msg(); len(m.GetRemoves()) != 1 || len(m.GetSecrets())+len(m.GetConfigs()) != 0 {
		t.Fatalf("after the task's removal: removes %v, secrets %q, configs %q", m.GetRemoves(), fileNames(m.GetSecrets()), fileNames(m.GetConfigs()))
	}
}
