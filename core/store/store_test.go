package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"google.golang.org/protobuf/proto"
)

func indexFixture(t *testing.T) *Store {
	s := newTestStore(t)
	n1 := node("n1", "alpha", shoalv1.NodeRole_NODE_ROLE_MANAGER, shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE)
	n2 := node("n2", "beta", shoalv1.NodeRole_NODE_ROLE_WORKER, shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN)
	n3 := node("n3", "Beta", shoalv1.NodeRole_NODE_ROLE_WORKER, shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE)
	t1 := task("t1", "s1", 1, "n1")
	t2 := task("t2", "s1", 2, "n2")
	t3 := task("t3", "s2", 1, "")
	t3.DesiredState = shoalv1.TaskState_TASK_STATE_SHUTDOWN
	t3.Status.State = shoalv1.TaskState_TASK_STATE_FAILED
	t4 := task("t4", "s1", 1, "n3")
	createAll(t, s, n1, n2, n3, service("s1", "web"), service("s2", "db"), t1, t2, t3, t4,
		&shoalv1.Network{Id: "net1", Spec: &shoalv1.NetworkSpec{Name: "ingress"}},
		&shoalv1.PluginModule{Id: "p1", Name: "spread"}, &shoalv1.PluginModule{Id: "p2", Name: "Spread"},
		&shoalv1.Cluster{Id: "c1", Spec: &shoalv1.ClusterSpec{Name: "default"}},
		&shoalv1.Secret{Id: "sec1", Spec: &shoalv1.SecretSpec{Name: "db-pass"}},
		&shoalv1.Config{Id: "cfg1", Spec: &shoalv1.ConfigSpec{Name: "nginx.conf"}})
	return s
}

func TestFindIndexes(t *testing.T) {
	s := indexFixture(t)
	cases := []struct {
		name string
		kind Kind
		by   By
		want string
	}{
		{"all tasks", KindTask, All(), "t1,t2,t3,t4"},
		{"tasks by service", KindTask, ByService("s1"), "t1,t2,t4"},
		{"tasks by unknown service", KindTask, ByService("zz"), ""},
		{"tasks by node", KindTask, ByNode("n2"), "t2"},
		{"unassigned tasks", KindTask, ByNode(""), "t3"},
		{"tasks by desired state", KindTask, ByDesiredState(shoalv1.TaskState_TASK_STATE_RUNNING), "t1,t2,t4"},
		{"tasks by observed state", KindTask, ByTaskState(shoalv1.TaskState_TASK_STATE_FAILED), "t3"},
		{"tasks by slot", KindTask, BySlot("s1", 1), "t1,t4"},
		{"tasks by slot of other service", KindTask, BySlot("s2", 1), "t3"},
		{"tasks by id prefix", KindTask, ByIDPrefix("t"), "t1,t2,t3,t4"},
		{"nodes by role", KindNode, ByRole(shoalv1.NodeRole_NODE_ROLE_WORKER), "n2,n3"},
		{"nodes by availability", KindNode, ByAvailability(shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE), "n1,n3"},
		{"nodes by hostname (case-insensitive)", KindNode, ByHostname("BETA"), "n2,n3"},
		{"nodes by name = hostname", KindNode, ByName("alpha"), "n1"},
		{"services by name", KindService, ByName("WEB"), "s1"},
		{"networks by name", KindNetwork, ByName("ingress"), "net1"},
		{"plugins by name", KindPlugin, ByName("spread"), "p1,p2"},
		{"clusters by name", KindCluster, ByName("default"), "c1"},
		{"secrets by name", KindSecret, ByName("DB-pass"), "sec1"},
		{"configs by name", KindConfig, ByName("nginx.conf"), "cfg1"},
		{"configs by id prefix", KindConfig, ByIDPrefix("cfg"), "cfg1"},
		{"services by id prefix", KindService, ByIDPrefix("s2"), "s2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.View(func(tx ReadTx) error {
				objs, err := tx.Find(tc.kind, tc.by)
				if err != nil {
					return err
				}
				if got := ids(objs); got != tc.want {
					t.Errorf("Find = %q, want %q", got, tc.want)
				}
				n, err := tx.Count(tc.kind, tc.by)
				if err != nil {
					return err
				}
				if n != len(objs) {
					t.Errorf("Count = %d, want %d", n, len(objs))
				}
				var ranged []Object
				if err := tx.Range(tc.kind, tc.by, func(o Object) bool { ranged = append(ranged, o); return true }); err != nil {
					return err
				}
				if got := ids(ranged); got != tc.want {
					t.Errorf("Range = %q, want %q", got, tc.want)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFindInvalidSelector(t *testing.T) {
	s := indexFixture(t)
	cases := []struct {
		kind Kind
		by   By
	}{
		{KindNode, ByService("s1")},
		{KindService, ByRole(shoalv1.NodeRole_NODE_ROLE_WORKER)},
		{KindTask, ByName("x")},
		{KindCluster, BySlot("s", 1)},
		{Kind(99), All()},
		{KindTask, nil},
	}
	for _, tc := range cases {
		_ = s.View(func(tx ReadTx) error {
			if _, err := tx.Find(tc.kind, tc.by); !errors.Is(err, ErrInvalidFindBy) {
				t.Errorf("Find(%s, %#v) err = %v, want ErrInvalidFindBy", tc.kind, tc.by, err)
			}
			return nil
		})
		// Same inside a write transaction (overlay path).
		_ = s.Update(context.Background(), func(tx Tx) error {
			_ = tx.Create(task("tx", "s1", 9, ""))
			if _, err := tx.Find(tc.kind, tc.by); !errors.Is(err, ErrInvalidFindBy) {
				t.Errorf("tx Find(%s, %#v) err = %v, want ErrInvalidFindBy", tc.kind, tc.by, err)
			}
			return errors.New("abort")
		})
	}
}

func TestResolve(t *testing.T) {
	s := newTestStore(t)
	createAll(t, s, task("abc1", "s", 1, ""), task("abc2", "s", 2, ""), task("abd", "s", 3, ""), task("ab", "s", 4, ""))
	cases := []struct {
		in, want string
		err      error
	}{
		{"abc1", "abc1", nil},
		{"abd", "abd", nil},
		{"ab", "ab", nil}, // an exact ID wins over the prefix
		{"abc", "", ErrAmbiguousPrefix},
		{"abc2", "abc2", nil},
		{"x", "", ErrNotExist},
		{"", "", ErrNotExist},
	}
	for _, tc := range cases {
		_ = s.View(func(tx ReadTx) error {
			got, err := tx.Resolve(KindTask, tc.in)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
			}
			return nil
		})
	}
}

func TestTxConflicts(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		fn   func(tx Tx) error
		want error
	}{
		{"create existing", func(tx Tx) error { return tx.Create(task("t1", "s1", 5, "")) }, ErrExist},
		{"update missing", func(tx Tx) error { return tx.Update(task("zz", "s1", 5, "")) }, ErrNotExist},
		{"update stale", func(tx Tx) error {
			t1 := proto.CloneOf(tx.GetTask("t1"))
			t1.Meta.Version--
			return tx.Update(t1)
		}, ErrSequenceConflict},
		{"update without meta", func(tx Tx) error { return tx.Update(task("t1", "s1", 1, "")) }, ErrSequenceConflict},
		{"delete missing", func(tx Tx) error { return tx.Delete(KindTask, "zz") }, ErrNotExist},
		{"delete twice", func(tx Tx) error {
			if err := tx.Delete(KindTask, "t1"); err != nil {
				return err
			}
			return tx.Delete(KindTask, "t1")
		}, ErrNotExist},
		{"service name taken", func(tx Tx) error { return tx.Create(service("s9", "Web")) }, ErrNameConflict},
		{"rename onto taken name", func(tx Tx) error {
			s2 := proto.CloneOf(tx.GetService("s2"))
			s2.Spec.Name = "web"
			return tx.Update(s2)
		}, ErrNameConflict},
		{"nil object", func(tx Tx) error { return tx.Create(nil) }, ErrInvalidObject},
		{"typed nil", func(tx Tx) error { return tx.Create((*shoalv1.Task)(nil)) }, ErrInvalidObject},
		{"empty id", func(tx Tx) error { return tx.Create(&shoalv1.Task{}) }, ErrInvalidObject},
		{"bad kind delete", func(tx Tx) error { return tx.Delete(Kind(0), "t1") }, ErrInvalidObject},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStore(t)
			createAll(t, s, task("t1", "s1", 1, ""), service("s1", "web"), service("s2", "db"))
			before := s.dump()
			n := s.ProposalCount()
			err := s.Update(ctx, tc.fn)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if s.dump() != before || s.ProposalCount() != n {
				t.Fatalf("failed transaction changed the store or proposed")
			}
		})
	}
}

func TestTxSeesOwnWrites(t *testing.T) {
	s := newTestStore(t)
	createAll(t, s, task("t1", "s1", 1, "n1"), task("t2", "s1", 2, "n1"))
	mustUpdate(t, s, func(tx Tx) error {
		if err := tx.Create(task("t3", "s1", 3, "n2")); err != nil {
			return err
		}
		t1 := proto.CloneOf(tx.GetTask("t1"))
		t1.NodeId = "n2"
		if err := tx.Update(t1); err != nil {
			return err
		}
		// A second update of the same object in the Tx names the same version.
		t1 = proto.CloneOf(tx.GetTask("t1"))
		t1.Status.State = shoalv1.TaskState_TASK_STATE_RUNNING
		if err := tx.Update(t1); err != nil {
			return err
		}
		if err := tx.Delete(KindTask, "t2"); err != nil {
			return err
		}
		checks := []struct {
			by   By
			want string
		}{
			{ByService("s1"), "t1,t3"},
			{ByNode("n1"), ""},
			{ByNode("n2"), "t1,t3"},
			{ByTaskState(shoalv1.TaskState_TASK_STATE_RUNNING), "t1"},
			{ByTaskState(shoalv1.TaskState_TASK_STATE_NEW), "t3"},
			{BySlot("s1", 2), ""},
		}
		for _, c := range checks {
			got, err := tx.FindTasks(c.by)
			if err != nil {
				return err
			}
			if ids(got) != c.want {
				t.Errorf("in tx Find(%#v) = %q, want %q", c.by, ids(got), c.want)
			}
		}
		if tx.GetTask("t2") != nil {
			t.Errorf("deleted task visible in tx")
		}
		if id, err := tx.Resolve(KindTask, "t3"); err != nil || id != "t3" {
			t.Errorf("Resolve in tx = %q, %v", id, err)
		}
		// Not visible outside before commit.
		_ = s.View(func(r ReadTx) error {
			if r.GetTask("t3") != nil {
				t.Errorf("uncommitted create visible outside the tx")
			}
			return nil
		})
		return nil
	})
	_ = s.View(func(tx ReadTx) error {
		got, _ := tx.FindTasks(ByNode("n2"))
		if ids(got) != "t1,t3" {
			t.Errorf("after commit ByNode(n2) = %q", ids(got))
		}
		if st := tx.GetTask("t1").GetStatus().GetState(); st != shoalv1.TaskState_TASK_STATE_RUNNING {
			t.Errorf("t1 state = %v", st)
		}
		return nil
	})
}

func TestMetaAndClones(t *testing.T) {
	s := newTestStore(t)
	createAll(t, s, task("t1", "s1", 1, ""))
	var first *shoalv1.Task
	_ = s.View(func(tx ReadTx) error { first = tx.GetTask("t1"); return nil })
	if first.Meta.Version != 1 || first.Meta.CreatedAt == nil || !proto.Equal(first.Meta.CreatedAt, first.Meta.UpdatedAt) {
		t.Fatalf("meta after create = %v", first.Meta)
	}
	// Reads share the stored object; a change goes through a copy.
	mustUpdate(t, s, func(tx Tx) error {
		t1 := tx.GetTask("t1")
		if t1 != first {
			t.Errorf("a read copied the stored object")
		}
		t1 = proto.CloneOf(t1)
		t1.NodeId = "n1"
		// A forged created_at is ignored.
		t1.Meta.CreatedAt = nil
		return tx.Update(t1)
	})
	_ = s.View(func(tx ReadTx) error {
		t1 := tx.GetTask("t1")
		if t1.Meta.Version != 2 {
			t.Errorf("version = %d, want 2", t1.Meta.Version)
		}
		if !proto.Equal(t1.Meta.CreatedAt, first.Meta.CreatedAt) {
			t.Errorf("created_at changed: %v -> %v", first.Meta.CreatedAt, t1.Meta.CreatedAt)
		}
		if !t1.Meta.UpdatedAt.AsTime().After(t1.Meta.CreatedAt.AsTime()) {
			t.Errorf("updated_at not after created_at")
		}
		return nil
	})
}

func TestTxClosedAfterReturn(t *testing.T) {
	s := newTestStore(t)
	var leaked Tx
	mustUpdate(t, s, func(tx Tx) error { leaked = tx; return nil })
	if err := leaked.Create(task("t1", "s", 1, "")); !errors.Is(err, ErrTxClosed) {
		t.Fatalf("Create on closed tx: %v", err)
	}
	var leakedR ReadTx
	_ = s.View(func(tx ReadTx) error { leakedR = tx; return nil })
	if _, err := leakedR.FindTasks(All()); !errors.Is(err, ErrTxClosed) {
		t.Fatalf("Find on closed view: %v", err)
	}
}

func TestUpdateFnErrorProposesNothing(t *testing.T) {
	s := newTestStore(t)
	boom := errors.New("boom")
	err := s.Update(context.Background(), func(tx Tx) error {
		_ = tx.Create(task("t1", "s", 1, ""))
		return boom
	})
	if !errors.Is(err, boom) || s.ProposalCount() != 0 || s.AppliedIndex() != 0 {
		t.Fatalf("err=%v proposals=%d index=%d", err, s.ProposalCount(), s.AppliedIndex())
	}
	// A read-only Update proposes nothing either.
	mustUpdate(t, s, func(tx Tx) error { _, err := tx.FindTasks(All()); return err })
	if s.ProposalCount() != 0 {
		t.Fatalf("read-only update proposed")
	}
}

func TestConcurrentWritersDoNotConflict(t *testing.T) {
	s := newTestStore(t)
	createAll(t, s, service("s1", "web"))
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				errs <- s.Update(context.Background(), func(tx Tx) error {
					svc := proto.CloneOf(tx.GetService("s1"))
					svc.SpecVersion++
					if err := tx.Update(svc); err != nil {
						return err
					}
					return tx.Create(task(fmt.Sprintf("t-%d-%d", w, i), "s1", uint64(i), ""))
				})
				_ = s.View(func(tx ReadTx) error { _, err := tx.FindTasks(ByService("s1")); return err })
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	_ = s.View(func(tx ReadTx) error {
		if v := tx.GetService("s1").SpecVersion; v != writers*each {
			t.Errorf("spec version = %d, want %d", v, writers*each)
		}
		if n, _ := tx.Count(KindTask, ByService("s1")); n != writers*each {
			t.Errorf("tasks = %d", n)
		}
		return nil
	})
}

func TestApplyIndexRules(t *testing.T) {
	s := New(nil)
	payload, _ := proto.Marshal(&shoalv1.StoreRequest{})
	if err := s.Apply(5, payload); err != nil {
		t.Fatalf("empty request: %v", err)
	}
	if err := s.Apply(5, payload); !errors.Is(err, ErrStaleIndex) {
		t.Fatalf("same index again: %v", err)
	}
	if err := s.Apply(3, payload); !errors.Is(err, ErrStaleIndex) {
		t.Fatalf("lower index: %v", err)
	}
	if err := s.Apply(6, []byte{0xff, 0xff}); !errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("garbage: %v", err)
	}
	if s.AppliedIndex() != 6 {
		t.Fatalf("applied = %d, want 6 (a rejected entry still counts)", s.AppliedIndex())
	}
	if err := s.Update(context.Background(), func(tx Tx) error { return tx.Create(task("t", "s", 1, "")) }); !errors.Is(err, ErrNoProposer) {
		t.Fatalf("update without proposer: %v", err)
	}
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	s := newTestStore(t)
	createAll(t, s, task("t1", "s1", 1, ""))
	before := s.dump()
	bad := []*shoalv1.StoreSnapshot{
		{Tasks: []*shoalv1.Task{{Id: "a"}, {Id: "a"}}},
		{Tasks: []*shoalv1.Task{{}}},
		{Services: []*shoalv1.Service{service("a", "x"), service("b", "X")}},
	}
	for i, snap := range bad {
		data, _ := proto.Marshal(snap)
		if err := s.Restore(9, data); !errors.Is(err, ErrInvalidSnapshot) {
			t.Errorf("case %d: err = %v", i, err)
		}
	}
	if err := s.Restore(9, []byte{0xff}); !errors.Is(err, ErrInvalidSnapshot) {
		t.Errorf("garbage: %v", err)
	}
	if s.dump() != before || s.AppliedIndex() != 1 {
		t.Fatalf("failed restore changed state")
	}
}

func TestSecretsAndConfigsSurviveASnapshotAndKeepUniqueNames(t *testing.T) {
	s := newTestStore(t)
	createAll(t, s, &shoalv1.Secret{Id: "sec1", Spec: &shoalv1.SecretSpec{Name: "pw"}, SealedData: []byte{1, 2, 3}, Size: 3},
		&shoalv1.Config{Id: "cfg1", Spec: &shoalv1.ConfigSpec{Name: "app", Data: []byte("x=1")}})
	err := s.Update(context.Background(), func(tx Tx) error {
		return tx.Create(&shoalv1.Secret{Id: "sec2", Spec: &shoalv1.SecretSpec{Name: "PW"}})
	})
	if !errors.Is(err, ErrNameConflict) {
		t.Fatalf("second secret named PW: err = %v, want ErrNameConflict", err)
	}
	data, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := newTestStore(t)
	if err := restored.Restore(9, data); err != nil {
		t.Fatal(err)
	}
	if got, want := restored.dump(), s.dump(); got != want {
		t.Fatalf("restored:\n%s\nwant:\n%s", got, want)
	}
	_ = restored.View(func(tx ReadTx) error {
		if sec := tx.GetSecret("sec1"); string(sec.GetSealedData()) != "\x01\x02\x03" {
			t.Errorf("restored secret = %v", sec)
		}
		if cfg := tx.GetConfig("cfg1"); string(cfg.GetSpec().GetData()) != "x=1" {
			t.Errorf("restored config = %v", cfg)
		}
		return nil
	})
}
