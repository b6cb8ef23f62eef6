package orchestrator

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// Under random scale, failure, node and update events, no slot ever holds
// two live tasks, and after every pass slots 1..N each hold exactly one.
func TestPropertySlots(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h := newHarness(t)
		nodes := []string{"a", "b", "c"}
		for _, n := range nodes {
			h.addNode(n, nodeUp, nil)
		}
		delay := rapid.SampledFrom([]time.Duration{0, 5 * time.Second}).Draw(rt, "delay")
		replicas := uint64(rapid.IntRange(0, 6).Draw(rt, "replicas"))
		h.createService(replicated("s", replicas, restart(condAny, delay, 0, 0)))
		version := uint64(1)
		h.step()
		steps := rapid.IntRange(1, 40).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			switch rapid.IntRange(0, 7).Draw(rt, fmt.Sprint("op", i)) {
			case 0:
				replicas = uint64(rapid.IntRange(0, 6).Draw(rt, "n"))
				h.scale("s", replicas)
			case 1: // a live task fails
				if ts := h.tasks("s"); len(ts) > 0 {
					tk := ts[rapid.IntRange(0, len(ts)-1).Draw(rt, "task")]
					if live(tk) {
						h.setState(tk.GetId(), failed)
					}
				}
			case 2: // unassigned live tasks get placed and run
				for _, tk := range h.tasks("s") {
					if live(tk) && tk.GetNodeId() == "" {
						h.assign(tk.GetId(), nodes[rapid.IntRange(0, 2).Draw(rt, "node")])
					}
				}
			case 3:
				h.setNodeState(nodes[rapid.IntRange(0, 2).Draw(rt, "down")], nodeDown)
			case 4:
				h.setNodeState(nodes[rapid.IntRange(0, 2).Draw(rt, "up")], nodeUp)
			case 5:
				a := rapid.SampledFrom([]shoalv1.NodeAvailability{
					shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE,
					shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN,
				}).Draw(rt, "availability")
				h.setAvailability(nodes[rapid.IntRange(0, 2).Draw(rt, "drain")], a)
			case 6:
				version++
				h.editService("s", func(s *shoalv1.Service) { s.SpecVersion = version })
			case 7:
				h.clk.Advance(3 * time.Second)
			}
			h.step()
			live := h.liveTasks("s")
			if uint64(len(live)) != replicas {
				rt.Fatalf("step %d: %d live tasks for %d replicas: %v", i, len(live), replicas, h.liveSlots("s"))
			}
			for s := uint64(1); s <= replicas; s++ {
				if live[fmt.Sprint(s)] == nil {
					rt.Fatalf("step %d: slot %d empty", i, s)
				}
			}
		}
	})
}
