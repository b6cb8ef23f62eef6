package scheduler

import (
	"maps"
	"testing"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// setTaskPorts gives the service's pending tasks published ports (as the
// allocator does).
func (h *harness) setTaskPorts(service string, ports ...*shoalv1.PortConfig) {
	h.st.MustUpdate(func(tx store.Tx) error {
		for _, t := range h.st.Tasks(service) {
			t.Endpoint = &shoalv1.Endpoint{Ports: ports}
			if err := tx.Update(t); err != nil {
				return err
			}
		}
		return nil
	})
}

func TestHostModePortsPlaceOneTaskPerNode(t *testing.T) {
	tests := []struct {
		name        string
		port        *shoalv1.PortConfig
		wantPerNode map[string]int
		wantPending int
	}{
		{"host mode", &shoalv1.PortConfig{PublishedPort: 8080, TargetPort: 80, PublishMode: "host"}, map[string]int{"a": 1, "b": 1}, 1},
		{"ingress mode spreads freely", &shoalv1.PortConfig{PublishedPort: 8080, TargetPort: 80}, map[string]int{"a": 2, "b": 1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.addNode("a", cpu, gib)
			h.addNode("b", cpu, gib)
			h.addService("s", 3)
			h.setTaskPorts("s", tt.port)
			st := h.pass()
			got := h.perNode("s")
			if tt.wantPending == 0 {
				if got["a"]+got["b"] != 3 || st.Unschedulable != 0 {
					t.Fatalf("placements %v stats %+v, want all 3 placed", got, st)
				}
				return
			}
			if !maps.Equal(got, tt.wantPerNode) || st.Unschedulable != tt.wantPending {
				t.Fatalf("placements %v stats %+v, want %v and %d pending", got, st, tt.wantPerNode, tt.wantPending)
			}
		})
	}
}
