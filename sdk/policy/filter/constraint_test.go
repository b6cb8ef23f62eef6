package filter_test

import (
	"errors"
	"testing"

	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/filter"
)

func TestConstraints(t *testing.T) {
	node := &sdk.Node{ID: "abc", Hostname: "web1", Role: sdk.RoleManager, Labels: map[string]string{"zone": "EU-1", "ssd": "true"}}
	tests := []struct {
		expr  string
		match bool
		err   bool
	}{
		{"node.id==abc", true, false},
		{"node.id!=abc", false, false},
		{"node.hostname==web1", true, false},
		{"node.hostname == web2", false, false},
		{"node.role==manager", true, false},
		{"node.role!=manager", false, false},
		{"node.role==worker", false, false},
		{"Node.Role==MANAGER", true, false},
		{"node.labels.zone==eu-1", true, false},
		{"node.labels.zone!=eu-1", false, false},
		{"node.labels.missing==x", false, false},
		{"node.labels.missing!=x", true, false},
		{"node.labels.ssd==true", true, false},
		{"node.role==boss", false, true},
		{"node.color==red", false, true},
		{"node.labels.==x", false, true},
		{"node.id=abc", false, true},
		{"node.id==", false, true},
		{"node.id==a==b", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			c, err := filter.ParseConstraint(tt.expr)
			if tt.err {
				if !errors.Is(err, filter.ErrInvalidConstraint) {
					t.Fatalf("want ErrInvalidConstraint, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Match(node); got != tt.match {
				t.Fatalf("match = %v, want %v", got, tt.match)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	req := &sdk.ScheduleRequest{Nodes: []sdk.Node{
		{ID: "ok", Ready: true, FreeMemoryBytes: 1 << 30},
		{ID: "down", Ready: false, FreeMemoryBytes: 1 << 30},
		{ID: "full", Ready: true},
		{ID: "drained", Ready: true, Availability: sdk.AvailabilityDrain, FreeMemoryBytes: 1 << 30},
	}, Groups: []sdk.TaskGroup{{ServiceID: "s", Count: 2, MemoryBytes: 1 << 29}}}
	tests := []struct {
		name string
		p    []int32
		ok   bool
	}{
		{"valid", []int32{0, 0}, true},
		{"unschedulable", []int32{-1, 0}, true},
		{"over memory", []int32{0, 0, 0}[:2], true},
		{"wrong length", []int32{0}, false},
		{"out of range", []int32{0, 9}, false},
		{"negative", []int32{-2, 0}, false},
		{"down", []int32{1, 0}, false},
		{"full", []int32{2, 0}, false},
		{"drained", []int32{3, 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := filter.Validate(req, &sdk.ScheduleResponse{Groups: []sdk.GroupResult{{Placements: tt.p}}})
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			if err != nil && !errors.Is(err, filter.ErrInvalidPlacement) {
				t.Fatalf("err %v is not ErrInvalidPlacement", err)
			}
		})
	}
	// The third task of 512 MiB does not fit in 1 GiB.
	three := &sdk.ScheduleRequest{Nodes: req.Nodes, Groups: []sdk.TaskGroup{{ServiceID: "s", Count: 3, MemoryBytes: 1 << 29}}}
	if err := filter.Validate(three, &sdk.ScheduleResponse{Groups: []sdk.GroupResult{{Placements: []int32{0, 0, 0}}}}); err == nil {
		t.Fatal("over-committed memory accepted")
	}
}
