package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/internal/poll"
)

// runHistory starts a history of st keeping limit events and waits until it
// follows the store.
func runHistory(t *testing.T, st *store.Store, limit int) *EventHistory {
	t.Helper()
	h := NewEventHistory(st, limit, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	caughtUp(t, h, st)
	return h
}

// caughtUp waits until h has seen every change applied to st.
func caughtUp(t *testing.T, h *EventHistory, st *store.Store) {
	t.Helper()
	poll.Until(t, "the history follows the store", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.head == st.AppliedIndex()
	})
}

func createService(t *testing.T, st *store.Store, id, name string) {
	t.Helper()
	err := st.Update(context.Background(), func(tx store.Tx) error {
		return tx.Create(&shoalv1.Service{Id: id, Spec: &shoalv1.ServiceSpec{Name: name}})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func removeService(t *testing.T, st *store.Store, id string) {
	t.Helper()
	if err := st.Update(context.Background(), func(tx store.Tx) error { return tx.Delete(store.KindService, id) }); err != nil {
		t.Fatal(err)
	}
}

func nextBatch(t *testing.T, sub *EventSub) EventBatch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("next batch: %v", err)
	}
	return b
}

func eventKeys(evs []*shoalv1.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.GetType()+" "+e.GetAction()+" "+e.GetName())
	}
	return out
}

func TestLiveSubscriptionStartsAtTheCurrentVersionAndGetsLaterChanges(t *testing.T) {
	_, st, _ := newTestServer(t)
	h := runHistory(t, st, 0)
	first, sub, err := h.Subscribe(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if first.Version != st.AppliedIndex() || len(first.Events) != 0 {
		t.Fatalf("first batch = version %d with %d events, want version %d and none", first.Version, len(first.Events), st.AppliedIndex())
	}
	createService(t, st, "s1", "web")
	b := nextBatch(t, sub)
	if got := eventKeys(b.Events); len(got) != 1 || got[0] != "service create web" || b.Version != st.AppliedIndex() || b.Events[0].GetVersion() != b.Version {
		t.Fatalf("batch = %v at %d, want [service create web] at %d", got, b.Version, st.AppliedIndex())
	}
}

func TestResumingFromAVersionReplaysEveryLaterChangeInOrder(t *testing.T) {
	_, st, _ := newTestServer(t)
	h := runHistory(t, st, 0)
	since := st.AppliedIndex()
	createService(t, st, "s1", "web")
	createService(t, st, "s2", "db")
	removeService(t, st, "s1")
	caughtUp(t, h, st)
	first, sub, err := h.Subscribe(since, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	want := []string{"service create web", "service create db", "service remove web"}
	if got := eventKeys(first.Events); !slices.Equal(got, want) || first.Version != st.AppliedIndex() {
		t.Fatalf("replay = %v up to %d, want %v up to %d", got, first.Version, want, st.AppliedIndex())
	}
	removeService(t, st, "s2")
	if got := eventKeys(nextBatch(t, sub).Events); !slices.Equal(got, []string{"service remove db"}) {
		t.Fatalf("live = %v", got)
	}
}

func TestResumingFromAVersionTheHistoryDroppedIsRefused(t *testing.T) {
	_, st, _ := newTestServer(t)
	h := runHistory(t, st, 2)
	since := st.AppliedIndex()
	for _, id := range []string{"a", "b", "c"} {
		createService(t, st, id, id)
	}
	caughtUp(t, h, st)
	if _, _, err := h.Subscribe(since, nil); !errors.Is(err, ErrEventsGone) {
		t.Fatalf("subscribe from %d after 3 changes with room for 2: %v, want ErrEventsGone", since, err)
	}
	if _, sub, err := h.Subscribe(since+1, nil); err != nil {
		t.Fatalf("subscribe from the oldest kept version: %v", err)
	} else {
		sub.Close()
	}
}

func TestSlowSubscriberGetsItsQueuedEventsThenFellBehind(t *testing.T) {
	_, st, _ := newTestServer(t)
	h := runHistory(t, st, 0)
	h.backlog = 1
	_, sub, err := h.Subscribe(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	createService(t, st, "a", "a")
	createService(t, st, "b", "b")
	caughtUp(t, h, st)
	if got := eventKeys(nextBatch(t, sub).Events); !slices.Equal(got, []string{"service create a"}) {
		t.Fatalf("queued = %v", got)
	}
	if _, err := sub.Next(context.Background()); !errors.Is(err, ErrSubscriberFellBehind) {
		t.Fatalf("after the queue: %v, want ErrSubscriberFellBehind", err)
	}
}

func TestEventFiltersSelectByTypeActionIDAndName(t *testing.T) {
	ev := &shoalv1.Event{Type: "service", Action: "update", Id: "abcdef", Name: "web"}
	cases := []struct {
		name string
		req  *shoalv1.WatchEventsRequest
		want bool
	}{
		{"no filter", &shoalv1.WatchEventsRequest{}, true},
		{"type", &shoalv1.WatchEventsRequest{Types: []string{"task", "service"}}, true},
		{"other type", &shoalv1.WatchEventsRequest{Types: []string{"task"}}, false},
		{"action", &shoalv1.WatchEventsRequest{Actions: []string{"update"}}, true},
		{"other action", &shoalv1.WatchEventsRequest{Actions: []string{"remove"}}, false},
		{"id prefix", &shoalv1.WatchEventsRequest{Ids: []string{"abc"}}, true},
		{"other id", &shoalv1.WatchEventsRequest{Ids: []string{"xyz"}}, false},
		{"name", &shoalv1.WatchEventsRequest{Names: []string{"web"}}, true},
		{"name is exact", &shoalv1.WatchEventsRequest{Names: []string{"we"}}, false},
		{"fields AND", &shoalv1.WatchEventsRequest{Types: []string{"service"}, Names: []string{"db"}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			match, err := eventMatcher(c.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := match(ev); got != c.want {
				t.Fatalf("match = %v, want %v", got, c.want)
			}
		})
	}
}

func TestUnknownEventFilterIsRefusedNamingTheField(t *testing.T) {
	cases := []struct {
		req   *shoalv1.WatchEventsRequest
		field string
	}{
		{&shoalv1.WatchEventsRequest{Types: []string{"service", "container"}}, `types[1] "container"`},
		{&shoalv1.WatchEventsRequest{Actions: []string{"delete"}}, `actions[0] "delete"`},
	}
	for _, c := range cases {
		_, err := eventMatcher(c.req)
		if codeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%v: %v, want InvalidArgument naming %s", c.req, err, c.field)
		}
	}
}

// watchClient serves srv over HTTP and returns a client for it.
func watchClient(t *testing.T, srv *Server) shoalv1connect.ControlServiceClient {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(shoalv1connect.NewControlServiceHandler(srv))
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return shoalv1connect.NewControlServiceClient(hs.Client(), hs.URL)
}

func TestWatchEventsStreamsVersionFirstThenStrippedObjects(t *testing.T) {
	srv, st, _ := newTestServer(t)
	srv.events = runHistory(t, st, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := watchClient(t, srv).WatchEvents(ctx, connect.NewRequest(&shoalv1.WatchEventsRequest{Types: []string{"cluster"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if !stream.Receive() || stream.Msg().GetVersion() != st.AppliedIndex() || len(stream.Msg().GetEvents()) != 0 {
		t.Fatalf("first message %v (%v), want version %d and no events", stream.Msg(), stream.Err(), st.AppliedIndex())
	}
	createService(t, st, "s1", "web") // filtered out
	err = st.Update(ctx, func(tx store.Tx) error {
		c := proto.CloneOf(tx.GetCluster("c1"))
		c.Spec.Name = "renamed"
		return tx.Update(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !stream.Receive() {
		t.Fatal(stream.Err())
	}
	evs := stream.Msg().GetEvents()
	if got := eventKeys(evs); !slices.Equal(got, []string{"cluster update renamed"}) {
		t.Fatalf("events = %v", got)
	}
	c := evs[0].GetObject().GetCluster()
	if c.GetRootCa().GetCaKeyPem() != nil || c.GetJoinTokens() != nil || c.GetRootCa().GetCaCertPem() == nil {
		t.Fatalf("cluster in the event is not stripped of its secrets (or lost its certificate): %v", c)
	}
}

func TestWatchEventsFromAVersionThatIsGoneIsOutOfRange(t *testing.T) {
	srv, st, _ := newTestServer(t)
	h := runHistory(t, st, 1)
	srv.events = h
	since := st.AppliedIndex()
	createService(t, st, "a", "a")
	createService(t, st, "b", "b")
	caughtUp(t, h, st)
	stream, err := watchClient(t, srv).WatchEvents(context.Background(), connect.NewRequest(&shoalv1.WatchEventsRequest{Since: since}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if stream.Receive() || connect.CodeOf(stream.Err()) != connect.CodeOutOfRange {
		t.Fatalf("receive: %v, want OutOfRange", stream.Err())
	}
}

func TestRestoringTheStoreEndsSubscribersAndForgetsTheHistory(t *testing.T) {
	_, st, _ := newTestServer(t)
	h := runHistory(t, st, 0)
	before := st.AppliedIndex()
	_, sub, err := h.Subscribe(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	snap, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Restore(before+10, snap); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := sub.Next(ctx); !errors.Is(err, ErrHistoryReset) {
		t.Fatalf("subscriber after a restore: %v, want ErrHistoryReset", err)
	}
	caughtUp(t, h, st)
	if _, _, err := h.Subscribe(before, nil); !errors.Is(err, ErrEventsGone) {
		t.Fatalf("resume from before the restore: %v, want ErrEventsGone", err)
	}
}

func TestSecretEventsCarryNeitherDataNorTheDataKey(t *testing.T) {
	srv, st, _ := newTestServer(t)
	srv.events = runHistory(t, st, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := watchClient(t, srv).WatchEvents(ctx, connect.NewRequest(&shoalv1.WatchEventsRequest{Types: []string{"secret", "cluster"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if !stream.Receive() {
		t.Fatal(stream.Err())
	}
	createSecret(t, srv, "db-password", []byte("hunter2"))
	var secret *shoalv1.Event
	for secret == nil && stream.Receive() {
		for _, ev := range stream.Msg().GetEvents() {
			if c := ev.GetObject().GetCluster(); c != nil && c.GetSecretDataKey() != nil {
				t.Fatalf("cluster event carries the secret data key")
			}
			if ev.GetType() == "secret" {
				secret = ev
			}
		}
	}
	if secret == nil {
		t.Fatal(stream.Err())
	}
	s := secret.GetObject().GetSecret()
	if secret.GetName() != "db-password" || s.GetSealedData() != nil || s.GetSpec().GetData() != nil {
		t.Fatalf("secret event %v: want name db-password and no data", secret)
	}
}
