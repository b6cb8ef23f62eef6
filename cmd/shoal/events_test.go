package main

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
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
