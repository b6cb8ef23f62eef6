package main

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func TestTasksSortBySlotNewestFirst(t *testing.T) {
	at := func(id, svc string, slot uint64, node string, min int) *shoalv1.Task {
		return &shoalv1.Task{Id: id, ServiceName: svc, Slot: slot, NodeId: node,
			Meta: &shoalv1.Meta{CreatedAt: timestamppb.New(time.Date(2026, 1, 1, 0, min, 0, 0, time.UTC))}}
	}
	ts := []*shoalv1.Task{at("old1", "web", 1, "n1", 1), at("g2", "agent", 0, "n2", 1), at("new1", "web", 1, "n1", 5),
		at("s2", "web", 2, "n2", 2), at("g1", "agent", 0, "n1", 1)}
	sortTasks(ts)
	var got []string
	for _, tk := range ts {
		got = append(got, tk.GetId()+"="+slotKey(tk))
	}
	want := "g1=agent.n1 g2=agent.n2 new1=web.1 old1=web.1 s2=web.2"
	if strings.Join(got, " ") != want {
		t.Fatalf("order = %v, want %s", got, want)
	}
}
