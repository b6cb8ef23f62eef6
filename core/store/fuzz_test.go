package store

import (
	"testing"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"google.golang.org/protobuf/proto"
)

// FuzzApply feeds arbitrary payloads to Apply on a populated store: garbage
// must be rejected with an error, never panic, and must leave consistent
// indexes and a snapshot that restores to the same state.
func FuzzApply(f *testing.F) {
	seed := func(req *shoalv1.StoreRequest) {
		b, _ := proto.Marshal(req)
		f.Add(b)
	}
	act := func(k shoalv1.StoreActionKind, o Object) *shoalv1.StoreAction {
		return &shoalv1.StoreAction{Kind: k, Object: wrap(o)}
	}
	stale := task("t1", "s1", 1, "n1")
	stale.Meta = &shoalv1.Meta{Version: 1}
	seed(&shoalv1.StoreRequest{})
	seed(&shoalv1.StoreRequest{Id: 7, Actions: []*shoalv1.StoreAction{
		act(shoalv1.StoreActionKind_STORE_ACTION_KIND_CREATE, task("t9", "s1", 9, "")),
		act(shoalv1.StoreActionKind_STORE_ACTION_KIND_UPDATE, stale),
	}})
	seed(&shoalv1.StoreRequest{Actions: []*shoalv1.StoreAction{
		act(shoalv1.StoreActionKind_STORE_ACTION_KIND_REMOVE, &shoalv1.Task{Id: "t1", Meta: &shoalv1.Meta{Version: 1}}),
		act(shoalv1.StoreActionKind_STORE_ACTION_KIND_CREATE, service("s2", "WEB")),
		{Kind: 9},
	}})
	f.Add([]byte{0x12, 0x02, 0x12, 0x00})
	f.Add([]byte{0xff, 0xff, 0xff})

	f.Fuzz(func(t *testing.T, payload []byte) {
		s := New(nil)
		fixture, _ := proto.Marshal(&shoalv1.StoreRequest{Actions: []*shoalv1.StoreAction{
			act(shoalv1.StoreActionKind_STORE_ACTION_KIND_CREATE, task("t1", "s1", 1, "n1")),
			act(shoalv1.StoreActionKind_STORE_ACTION_KIND_CREATE, service("s1", "web")),
			act(shoalv1.StoreActionKind_STORE_ACTION_KIND_CREATE, node("n1", "h", 1, 1)),
		}})
		if err := s.Apply(1, fixture); err != nil {
			t.Fatal(err)
		}
		before, _ := s.Snapshot()
		if err := s.Apply(2, payload); err != nil {
			after, _ := s.Snapshot()
			if string(after) != string(before) {
				t.Fatalf("rejected payload changed the state: %v", err)
			}
		}
		checkIndexes(t, s)
		snap, err := s.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		r := New(nil)
		if err := r.Restore(2, snap); err != nil {
			t.Fatalf("snapshot of accepted state does not restore: %v", err)
		}
		if r.dump() != s.dump() {
			t.Fatal("restore differs")
		}
	})
}
