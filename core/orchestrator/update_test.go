package orchestrator

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"pgregory.net/rapid"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// rolling is a 6-replica service, all running on node a, whose updates
// follow cfg.
func rolling(t *testing.T, cfg *shoalv1.UpdateConfig) *harness {
	t.Helper()
	h := newHarness(t)
	h.addNode("a", nodeUp, nil)
	svc := replicated("s", 6, restart(condAny, 0, 0, 0))
	svc.Spec.UpdateConfig = cfg
	h.createService(svc)
	h.step()
	h.runPending()
	h.step()
	return h
}

// bump changes the service's image as the API does: a new spec version,
// the old spec kept as previous_spec.
func (h *harness) bump(image string) {
	h.editService("s", func(s *shoalv1.Service) {
		s.PreviousSpec = proto.CloneOf(s.Spec)
		s.Spec.Task.GetContainer().Image = image
		s.SpecVersion++
	})
}

// runPending places every live task not yet running on node a and marks it RUNNING.
func (h *harness) runPending() {
	h.t.Helper()
	for _, tk := range h.tasks("s") {
		if live(tk) && tk.GetStatus().GetState() < stateRunning {
			h.assign(tk.GetId(), "a")
		}
	}
}

// images counts the live tasks per image.
func (h *harness) images() map[string]int {
	out := map[string]int{}
	for _, tk := range h.tasks("s") {
		if live(tk) {
			out[tk.GetSpec().GetContainer().GetImage()]++
		}
	}
	return out
}

// runningLive counts live tasks that run.
func (h *harness) runningLive() int {
	n := 0
	for _, tk := range h.tasks("s") {
		if live(tk) && tk.GetStatus().GetState() == stateRunning {
			n++
		}
	}
	return n
}

func (h *harness) updateState() shoalv1.UpdateState {
	return h.service("s").GetUpdateStatus().GetState()
}

// newLeader replaces the orchestrator by a fresh one over the same store,
// as a leader change does: everything in memory is lost.
func (h *harness) newLeader() {
	h.o = New(h.st.Store, WithClock(h.clk), WithIDGenerator(func() string {
		h.ids++
		return fmt.Sprintf("task%06d", h.ids)
	}))
}

func cfg(parallelism int64, delay, monitor time.Duration) *shoalv1.UpdateConfig {
	return &shoalv1.UpdateConfig{Parallelism: parallelism, Delay: durationpb.New(delay), Monitor: durationpb.New(monitor)}
}

func TestRollingUpdateGoesBatchByBatch(t *testing.T) {
	h := rolling(t, cfg(2, 2*time.Second, time.Second))
	h.bump("busybox:2")
	for batch := 1; batch <= 3; batch++ {
		h.step()
		if got := h.images()["busybox:2"]; got != 2*batch {
			t.Fatalf("batch %d started: %d tasks on the new image, want %d", batch, got, 2*batch)
		}
		if h.updateState() != updUpdating {
			t.Fatalf("batch %d: status %v", batch, h.service("s").GetUpdateStatus())
		}
		if n := h.runningLive(); n < 4 {
			t.Fatalf("batch %d: %d running, want at least 4", batch, n)
		}
		h.step() // nothing more while the batch starts
		h.runPending()
		h.step()
		h.clk.Advance(time.Second - time.Millisecond)
		h.step() // still in the monitor window
		h.clk.Advance(time.Millisecond)
		h.step() // updated; the delay starts
		if batch < 3 {
			h.clk.Advance(2*time.Second - time.Millisecond)
			h.step()
			if got := h.images()["busybox:2"]; got != 2*batch {
				t.Fatalf("batch %d: the next batch started before the delay ended (%d new)", batch, got)
			}
			h.clk.Advance(time.Millisecond)
		}
	}
	st := h.service("s").GetUpdateStatus()
	if st.GetState() != updCompleted || st.GetCompletedAt() == nil || st.GetSpecVersion() != 2 || h.images()["busybox:2"] != 6 {
		t.Fatalf("after the last batch: status %v, images %v", st, h.images())
	}
	if h.o.updating["s"] {
		t.Fatal("still marked updating")
	}
}

// startFirstRoll is a rolling harness with a start-first policy, updated to
// busybox:2 and one pass run.
func startFirstRoll(t *testing.T, parallelism int64) *harness {
	c := cfg(parallelism, 0, 0)
	c.Order = shoalv1.UpdateOrder_UPDATE_ORDER_START_FIRST
	h := rolling(t, c)
	h.bump("busybox:2")
	h.step()
	return h
}

func TestStartFirstKeepsTheOldTaskUntilItsReplacementRuns(t *testing.T) {
	h := startFirstRoll(t, 2)
	if img := h.images(); img["busybox"] != 6 || img["busybox:2"] != 2 {
		t.Fatalf("after the first batch started: %v live", img)
	}
	h.runPending()
	h.step()
	if img := h.images(); img["busybox"] != 4 || img["busybox:2"] != 4 || h.runningLive() < 6 {
		t.Fatalf("after the first replacements ran: %v live, %d running", img, h.runningLive())
	}
	for i := 0; i < 3; i++ {
		h.runPending()
		h.step()
	}
	if img := h.images(); img["busybox:2"] != 6 || len(img) != 1 || h.updateState() != updCompleted {
		t.Fatalf("at the end: %v live, status %v", img, h.updateState())
	}
}

func TestStartFirstReplacementThatFailsLeavesTheOldTask(t *testing.T) {
	h := startFirstRoll(t, 1)
	for _, tk := range h.tasks("s") {
		if tk.GetSpec().GetContainer().GetImage() == "busybox:2" {
			h.setState(tk.GetId(), failed)
		}
	}
	h.step()
	if img := h.images(); img["busybox"] != 6 || img["busybox:2"] != 0 || h.updateState() != updPaused {
		t.Fatalf("after the replacement failed: %v live, status %v", img, h.service("s").GetUpdateStatus())
	}
}

func TestFailureAction(t *testing.T) {
	for _, tc := range []struct {
		name      string
		action    shoalv1.UpdateFailureAction
		ratio     float64
		wantState shoalv1.UpdateState
		wantMsg   string
		wantNew   int // live tasks on the new image once it settles
	}{
		{"pause stops after the first batch", shoalv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_PAUSE, 0, updPaused, "update paused due to failure: task", 2},
		{"rollback returns to the previous spec", shoalv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_ROLLBACK, 0, updRollbackCompleted, "update rolled back due to failure: task", 0},
		{"continue goes on", shoalv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_CONTINUE, 0, updCompleted, "update completed", 6},
		{"failures under the ratio are tolerated", shoalv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_PAUSE, 0.5, updCompleted, "update completed", 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg(2, 0, time.Second)
			c.FailureAction, c.MaxFailureRatio = tc.action, tc.ratio
			h := rolling(t, c)
			h.editService("s", func(s *shoalv1.Service) { s.Spec.RollbackConfig = cfg(0, 0, 0) })
			h.bump("busybox:2")
			h.step()
			// The first new task fails at once (its restart runs fine).
			for _, tk := range h.tasks("s") {
				if tk.GetSpec().GetContainer().GetImage() == "busybox:2" {
					h.assign(tk.GetId(), "a")
					h.setState(tk.GetId(), failed)
					break
				}
			}
			for i := 0; i < 12; i++ {
				h.step()
				h.runPending()
				h.clk.Advance(time.Second)
			}
			st := h.service("s").GetUpdateStatus()
			if st.GetState() != tc.wantState || !strings.Contains(st.GetMessage(), tc.wantMsg) {
				t.Fatalf("status %v, want %v with %q", st, tc.wantState, tc.wantMsg)
			}
			if got := h.images()["busybox:2"]; got != tc.wantNew {
				t.Fatalf("%d live tasks on the new image, want %d (%v)", got, tc.wantNew, h.images())
			}
		})
	}
}

func TestRollbackReplacesOnlyTheTasksThatDiffer(t *testing.T) {
	c := cfg(2, 0, 0)
	c.FailureAction = shoalv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_ROLLBACK
	h := rolling(t, c)
	h.editService("s", func(s *shoalv1.Service) { s.Spec.RollbackConfig = cfg(0, 0, 0) })
	before := map[string]bool{}
	for _, tk := range h.tasks("s") {
		before[tk.GetId()] = true
	}
	h.bump("busybox:2")
	h.step()
	for _, tk := range h.tasks("s") {
		if !before[tk.GetId()] {
			h.assign(tk.GetId(), "a")
			h.setState(tk.GetId(), failed)
		}
	}
	for i := 0; i < 4; i++ {
		h.step()
		h.runPending()
	}
	kept := 0
	for _, tk := range h.liveTasks("s") {
		if before[tk.GetId()] {
			kept++
		}
	}
	if kept != 4 || h.images()["busybox"] != 6 || h.updateState() != updRollbackCompleted || h.service("s").GetSpecVersion() != 3 {
		t.Fatalf("after the rollback: %d of the untouched tasks kept (want 4), %v live, status %v", kept, h.images(), h.service("s").GetUpdateStatus())
	}
}

func TestNewLeaderContinuesTheRollAndUpdatesEachSlotOnce(t *testing.T) {
	h := rolling(t, cfg(2, time.Second, time.Second))
	h.bump("busybox:2")
	h.step()
	h.runPending()
	h.newLeader()
	h.step()
	if got := h.images()["busybox:2"]; got != 2 {
		t.Fatalf("the new leader started another batch before monitoring the first: %d new", got)
	}
	for i := 0; i < 20 && h.updateState() != updCompleted; i++ {
		if i%3 == 2 {
			h.newLeader()
		}
		h.clk.Advance(time.Second)
		h.step()
		h.runPending()
	}
	if h.updateState() != updCompleted {
		t.Fatalf("status %v", h.service("s").GetUpdateStatus())
	}
	perSlot := map[uint64]int{}
	for _, tk := range h.tasks("s") {
		if tk.GetSpecVersion() == 2 {
			perSlot[tk.GetSlot()]++
		}
	}
	for slot := uint64(1); slot <= 6; slot++ {
		if perSlot[slot] != 1 {
			t.Fatalf("slot %d got %d tasks of the new spec: %v", slot, perSlot[slot], perSlot)
		}
	}
}

func TestSpecChangeMidRollRestartsFromTheNewSpec(t *testing.T) {
	h := rolling(t, cfg(2, 0, 0))
	h.bump("busybox:2")
	h.step()
	h.runPending()
	h.bump("busybox:3")
	for i := 0; i < 6; i++ {
		h.step()
		h.runPending()
	}
	st := h.service("s").GetUpdateStatus()
	if img := h.images(); img["busybox:3"] != 6 || st.GetState() != updCompleted || st.GetSpecVersion() != 3 {
		t.Fatalf("%v live, status %v", img, st)
	}
}

func TestNoPolicyMeansSwarmDefaults(t *testing.T) {
	p := policyOf(nil)
	if p.parallelism != 1 || p.monitor != 5*time.Second || p.delay != 0 || p.startFirst || p.ratio != 0 ||
		p.action != shoalv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_UNSPECIFIED {
		t.Fatalf("defaults %+v", p)
	}
	if p := policyOf(&shoalv1.UpdateConfig{}); p.parallelism != 0 || p.monitor != 5*time.Second {
		t.Fatalf("an empty config: %+v (want all at once, monitor 5s)", p)
	}
}

// Under random spec changes, leader changes, tasks starting and time
// passing, a stop-first roll never leaves fewer than replicas-parallelism
// tasks running (start-first: never fewer than replicas), never gives a
// slot two tasks of one spec version, and ends with every slot on the last
// spec and the status completed.
func TestPropertyRollingUpdate(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		p := int64(rapid.IntRange(1, 3).Draw(rt, "parallelism"))
		c := cfg(p, time.Duration(rapid.IntRange(0, 2).Draw(rt, "delay"))*time.Second, time.Duration(rapid.IntRange(0, 2).Draw(rt, "monitor"))*time.Second)
		startFirst := rapid.Bool().Draw(rt, "startFirst")
		floor := 6 - int(p)
		if startFirst {
			c.Order, floor = shoalv1.UpdateOrder_UPDATE_ORDER_START_FIRST, 6
		}
		h := rolling(t, c)
		version := 1
		check := func(when string) {
			if n := h.runningLive(); n < floor {
				rt.Fatalf("%s: %d running, want at least %d", when, n, floor)
			}
			seen := map[string]bool{}
			for _, tk := range h.tasks("s") {
				k := fmt.Sprint(tk.GetSlot(), "/", tk.GetSpecVersion())
				if seen[k] {
					rt.Fatalf("%s: slot %d got two tasks of spec version %d", when, tk.GetSlot(), tk.GetSpecVersion())
				}
				seen[k] = true
			}
		}
		for i := range rapid.IntRange(1, 20).Draw(rt, "steps") {
			switch rapid.IntRange(0, 4).Draw(rt, fmt.Sprint("op", i)) {
			case 0:
				version++
				h.bump(fmt.Sprint("busybox:", version))
			case 1:
				h.runPending()
			case 2:
				h.clk.Advance(time.Duration(rapid.IntRange(0, 3000).Draw(rt, "ms")) * time.Millisecond)
			case 3:
				h.newLeader()
			}
			h.step()
			check(fmt.Sprint("step ", i))
		}
		for i := 0; i < 100 && (h.updateState() != updCompleted && version > 1 || h.images()[fmt.Sprint("busybox:", version)] != 6 && version > 1); i++ {
			h.runPending()
			h.step()
			h.clk.Advance(time.Second)
			h.step()
			check("draining")
		}
		if version > 1 && (h.updateState() != updCompleted || h.images()[fmt.Sprint("busybox:", version)] != 6) {
			rt.Fatalf("not done: %v live, status %v", h.images(), h.service("s").GetUpdateStatus())
		}
	})
}

func TestGlobalServiceRollsOneNodeAtATime(t *testing.T) {
	h := newHarness(t)
	for _, n := range []string{"a", "b", "c"} {
		h.addNode(n, nodeUp, nil)
	}
	svc := global("g")
	svc.Spec.UpdateConfig = cfg(1, 0, 0)
	h.createService(svc)
	h.step()
	runAll := func() {
		for _, tk := range h.tasks("g") {
			if live(tk) && tk.GetStatus().GetState() < stateRunning {
				h.assign(tk.GetId(), tk.GetNodeId())
			}
		}
	}
	runAll()
	h.editService("g", func(s *shoalv1.Service) { s.Spec.Task.GetProcess().Command = []string{"sleep", "2d"}; s.SpecVersion++ })
	for round := 1; round <= 3; round++ {
		h.step()
		updated := map[string]bool{}
		for _, tk := range h.liveTasks("g") {
			if tk.GetSpecVersion() == 2 {
				updated[tk.GetNodeId()] = true
			}
		}
		if len(updated) != round || len(h.liveTasks("g")) != 3 {
			t.Fatalf("round %d: nodes updated %v, live %v", round, updated, h.liveSlots("g"))
		}
		runAll()
	}
	h.step()
	if st := h.service("g").GetUpdateStatus(); st.GetState() != updCompleted {
		t.Fatalf("status %v", st)
	}
}

func TestHealthCheckedTaskMustOutliveItsChecks(t *testing.T) {
	h := rolling(t, cfg(1, 0, time.Second))
	h.editService("s", func(s *shoalv1.Service) {
		s.PreviousSpec = proto.CloneOf(s.Spec)
		s.Spec.Task.GetContainer().Healthcheck = &shoalv1.HealthConfig{Test: []string{"CMD", "true"},
			Interval: durationpb.New(2 * time.Second), Retries: 2, StartPeriod: durationpb.New(time.Second)}
		s.SpecVersion++
	})
	h.step()
	h.runPending()
	h.step()
	h.clk.Advance(5*time.Second - time.Millisecond) // start period 1s + 2 retries x 2s
	h.step()
	if n := h.liveOnVersion(2); n != 1 {
		t.Fatalf("the next batch started before the health check could have failed the first: %d updated", n)
	}
	h.clk.Advance(time.Millisecond)
	h.step()
	if n := h.liveOnVersion(2); n != 2 {
		t.Fatalf("after the health window: %d updated, want 2", n)
	}
}

func (h *harness) liveOnVersion(v uint64) int {
	n := 0
	for _, tk := range h.liveTasks("s") {
		if tk.GetSpecVersion() == v {
			n++
		}
	}
	return n
}

// A pass over a 10,000-replica service in the middle of a roll (all its
// tasks running, 100 per batch): measuring the batch and starting the next.
func BenchmarkRollingPass10000Replicas(b *testing.B) {
	benchPass(b, func(h *harness, _ int) {
		h.addNode("a", nodeUp, nil)
		svc := replicated("s", 10_000, nil)
		svc.Spec.UpdateConfig = cfg(100, 0, 0)
		h.createService(svc)
		h.step()
		h.runPending()
		h.bump("busybox:2")
		h.step()
		h.runPending()
	})
}

func TestContinuePassesACrashLoopingSlot(t *testing.T) {
	c := cfg(1, 0, time.Second)
	c.FailureAction, c.MaxFailureRatio = shoalv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_CONTINUE, 1
	h := rolling(t, c)
	h.bump("busybox:2")
	for i := 0; i < 40 && h.updateState() != updCompleted; i++ {
		h.step()
		for _, tk := range h.tasks("s") {
			if live(tk) && tk.GetSpecVersion() == 2 && tk.GetStatus().GetState() < stateRunning {
				h.assign(tk.GetId(), "a")
				if tk.GetSlot() == 1 {
					h.setState(tk.GetId(), failed) // slot 1 never runs the new spec
				}
			}
		}
		h.clk.Advance(time.Second)
	}
	if h.updateState() != updCompleted || h.images()["busybox:2"] != 6 {
		t.Fatalf("status %v, live %v", h.service("s").GetUpdateStatus(), h.images())
	}
}
