package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"google.golang.org/protobuf/proto"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/internal/client"
)

func TestEventFilterFlagsBuildTheRequest(t *testing.T) {
	cases := []struct {
		name    string
		filters []string
		want    *shoalv1.WatchEventsRequest
		err     string
	}{
		{"none", nil, &shoalv1.WatchEventsRequest{}, ""},
		{"each key", []string{"type=service", "type=task", "action=create", "event=remove", "id=abc", "name=web"},
			&shoalv1.WatchEventsRequest{Types: []string{"service", "task"}, Actions: []string{"create", "remove"}, Ids: []string{"abc"}, Names: []string{"web"}}, ""},
		{"no value", []string{"type="}, nil, `--filter "type=": want key=value`},
		{"no equals", []string{"service"}, nil, `--filter "service": want key=value`},
		{"unknown key", []string{"container=x"}, nil, `unknown key "container"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := eventsRequest(c.filters)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil || !proto.Equal(got, c.want) {
				t.Fatalf("request %v (%v), want %v", got, err, c.want)
			}
		})
	}
}

// flakyEvents ends its first stream with Unavailable after one event, as a
// manager that stops leading does, and records each request's since.
type flakyEvents struct {
	shoalv1connect.UnimplementedControlServiceHandler
	mu     sync.Mutex
	sinces []uint64
}

func (f *flakyEvents) WatchEvents(_ context.Context, req *connect.Request[shoalv1.WatchEventsRequest], s *connect.ServerStream[shoalv1.WatchEventsResponse]) error {
	f.mu.Lock()
	f.sinces = append(f.sinces, req.Msg.GetSince())
	calls := len(f.sinces)
	f.mu.Unlock()
	base := uint64(10 * calls)
	if err := s.Send(&shoalv1.WatchEventsResponse{Version: base}); err != nil {
		return err
	}
	ev := &shoalv1.Event{Version: base + 1, Type: "service", Action: "create", Id: fmt.Sprint(calls)}
	if err := s.Send(&shoalv1.WatchEventsResponse{Events: []*shoalv1.Event{ev}, Version: base + 1}); err != nil {
		return err
	}
	if calls == 1 {
		return connect.NewError(connect.CodeUnavailable, errors.New("leader changed"))
	}
	return nil
}

func TestEventsResumeFromTheLastVersionWhenTheManagerEndsTheStream(t *testing.T) {
	f := &flakyEvents{}
	mux := http.NewServeMux()
	mux.Handle(shoalv1connect.NewControlServiceHandler(f))
	hs := httptest.NewServer(mux)
	defer hs.Close()
	cl := &client.Client{Control: shoalv1connect.NewControlServiceClient(hs.Client(), hs.URL)}
	var got []string
	err := followEvents(context.Background(), cl, &shoalv1.WatchEventsRequest{}, time.Minute, func(e *shoalv1.Event) error {
		got = append(got, fmt.Sprintf("%d %s", e.GetVersion(), e.GetId()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"11 1", "21 2"}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if want := []uint64{0, 11}; !slices.Equal(f.sinces, want) {
		t.Fatalf("requests asked since %v, want %v (the second resumes after the last version seen)", f.sinces, want)
	}
}
