package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func next(t *testing.T, ch <-chan Event) (Event, bool) {
	t.Helper()
	select {
	case e, ok := <-ch:
		return e, ok
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for an event")
	}
	return Event{}, false
}

func TestWatchSequence(t *testing.T) {
	s := newTestStore(t)
	ch, cancel := s.Watch(ForKind(KindTask))
	defer cancel()
	for i := range 50 {
		mustUpdate(t, s, func(tx Tx) error {
			if err := tx.Create(task(fmt.Sprintf("t%02d", i), "s", 1, "")); err != nil {
				return err
			}
			return tx.Create(service(fmt.Sprintf("s%02d", i), fmt.Sprintf("svc%d", i)))
		})
	}
	for i := range 50 {
		e, _ := next(t, ch)
		if e.Kind != EventCreate || e.Object.GetId() != fmt.Sprintf("t%02d", i) || e.Index != uint64(i+1) {
			t.Fatalf("event %d = %v", i, e)
		}
		c, _ := next(t, ch)
		if c.Kind != EventCommit || c.Index != uint64(i+1) {
			t.Fatalf("commit %d = %v", i, c)
		}
	}
	cancel()
	for range ch { // closes after cancel
	}
}

func TestViewAndWatchHasNoGap(t *testing.T) {
	s := newTestStore(t)
	const total = 300
	done := make(chan error, 1)
	go func() {
		for i := range total {
			if err := s.Update(context.Background(), func(tx Tx) error {
				return tx.Create(task(fmt.Sprintf("t%04d", i), "s", uint64(i), ""))
			}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	time.Sleep(time.Millisecond)
	var seen int
	ch, cancel, err := s.ViewAndWatch(func(tx ReadTx) error {
		var err error
		seen, err = tx.Count(KindTask, All())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := seen; i < total; i++ {
		e, _ := next(t, ch)
		if e.Kind != EventCreate || e.Object.GetId() != fmt.Sprintf("t%04d", i) {
			t.Fatalf("after view of %d tasks got %v, want create t%04d", seen, e, i)
		}
		if c, _ := next(t, ch); c.Kind != EventCommit {
			t.Fatalf("want commit, got %v", c)
		}
	}
}

func TestViewAndWatchFnError(t *testing.T) {
	s := newTestStore(t)
	boom := errors.New("boom")
	if _, _, err := s.ViewAndWatch(func(ReadTx) error { return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
}

func TestSlowWatcherNeverBlocksApply(t *testing.T) {
	s := newTestStore(t, WithWatchQueueLimit(100))
	slow, cancelSlow := s.Watch()
	defer cancelSlow()
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for i := range 1000 {
			if err := s.Update(context.Background(), func(tx Tx) error {
				return tx.Create(task(fmt.Sprintf("t%04d", i), "s", 1, ""))
			}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	select {
	case <-finished:
	case <-time.After(30 * time.Second):
		t.Fatal("apply blocked by a watcher that never reads")
	}
	// The slow watcher drains what it had, then ends with a resync event.
	var last Event
	n := 0
	for e := range slow {
		last = e
		n++
	}
	if last.Kind != EventResync || !errors.Is(last.Err, ErrWatcherFellBehind) {
		t.Fatalf("last event = %v after %d", last, n)
	}
}

func TestRestoreEndsWatchers(t *testing.T) {
	s := newTestStore(t)
	ch, cancel := s.Watch()
	defer cancel()
	createAll(t, s, task("t1", "s", 1, ""))
	data, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(10, data); err != nil {
		t.Fatal(err)
	}
	var kinds []EventKind
	var last Event
	for e := range ch {
		kinds = append(kinds, e.Kind)
		last = e
	}
	if fmt.Sprint(kinds) != fmt.Sprint([]EventKind{EventCreate, EventCommit, EventResync}) || !errors.Is(last.Err, ErrRestored) {
		t.Fatalf("events = %v, last = %v", kinds, last)
	}
	if s.AppliedIndex() != 10 {
		t.Fatalf("index = %d", s.AppliedIndex())
	}
	// Writes continue after the restored index.
	createAll(t, s, task("t2", "s", 1, ""))
}

func TestCloseEndsWatchers(t *testing.T) {
	s := NewLocal()
	ch, cancel := s.Watch()
	defer cancel()
	s.Close()
	e, _ := next(t, ch)
	if e.Kind != EventResync || !errors.Is(e.Err, ErrStoreClosed) {
		t.Fatalf("event = %v", e)
	}
	if _, ok := next(t, ch); ok {
		t.Fatal("channel not closed")
	}
	ch2, cancel2 := s.Watch()
	defer cancel2()
	if e, _ := next(t, ch2); !errors.Is(e.Err, ErrStoreClosed) {
		t.Fatalf("watch after close: %v", e)
	}
}

func TestEventFilters(t *testing.T) {
	t1 := task("t1", "s1", 1, "n1")
	t1moved := task("t1", "s1", 1, "n2")
	cases := []struct {
		name string
		f    EventFilter
		e    Event
		want bool
	}{
		{"kind match", ForKind(KindTask), Event{Kind: EventCreate, ObjectKind: KindTask, Object: t1}, true},
		{"kind miss", ForKind(KindNode, KindService), Event{Kind: EventCreate, ObjectKind: KindTask, Object: t1}, false},
		{"id", ForID("x", "t1"), Event{Kind: EventCreate, ObjectKind: KindTask, Object: t1}, true},
		{"service task", ForService("s1"), Event{Kind: EventCreate, ObjectKind: KindTask, Object: t1}, true},
		{"service itself", ForService("s1"), Event{Kind: EventUpdate, ObjectKind: KindService, Object: service("s1", "a")}, true},
		{"other service", ForService("s2"), Event{Kind: EventCreate, ObjectKind: KindTask, Object: t1}, false},
		{"node new", ForNode("n2"), Event{Kind: EventUpdate, ObjectKind: KindTask, Object: t1moved, Old: t1}, true},
		{"node old", ForNode("n1"), Event{Kind: EventUpdate, ObjectKind: KindTask, Object: t1moved, Old: t1}, true},
		{"node itself", ForNode("n1"), Event{Kind: EventCreate, ObjectKind: KindNode, Object: node("n1", "h", 0, 0)}, true},
		{"node miss", ForNode("n3"), Event{Kind: EventCreate, ObjectKind: KindTask, Object: t1}, false},
		{"event kind", ForEventKind(EventRemove), Event{Kind: EventCreate, ObjectKind: KindTask, Object: t1}, false},
		{"or", Or(ForKind(KindNode), ForID("t1")), Event{Kind: EventCreate, ObjectKind: KindTask, Object: t1}, true},
		{"network", ForKind(KindNetwork), Event{Kind: EventCreate, ObjectKind: KindNetwork, Object: &shoalv1.Network{Id: "x"}}, true},
	}
	for _, tc := range cases {
		if got := tc.f(tc.e); got != tc.want {
			t.Errorf("%s: got %v", tc.name, got)
		}
	}
}
