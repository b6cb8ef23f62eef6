package orchestrator

import (
	"context"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"google.golang.org/protobuf/proto"
)

const (
	condNone      = shoalv1.RestartCondition_RESTART_CONDITION_NONE
	condOnFailure = shoalv1.RestartCondition_RESTART_CONDITION_ON_FAILURE
	condAny       = shoalv1.RestartCondition_RESTART_CONDITION_ANY
)

func TestRestartConditions(t *testing.T) {
	tests := []struct {
		cond    shoalv1.RestartCondition
		end     shoalv1.TaskState
		restart bool
	}{
		{condAny, failed, true},
		{condAny, stateComplete, true},
		{condAny, shoalv1.TaskState_TASK_STATE_REJECTED, true},
		{shoalv1.RestartCondition_RESTART_CONDITION_UNSPECIFIED, stateComplete, true},
		{condOnFailure, failed, true},
		{condOnFailure, shoalv1.TaskState_TASK_STATE_REJECTED, true},
		{condOnFailure, stateComplete, false},
		{condNone, failed, false},
		{condNone, stateComplete, false},
	}
	for _, tt := range tests {
		t.Run(tt.cond.String()+"/"+tt.end.String(), func(t *testing.T) {
			h := newHarness(t)
			h.addNode("a", nodeUp, nil)
			h.createService(replicated("s", 1, restart(tt.cond, 0, 0, 0)))
			h.step()
			first := h.tasks("s")[0]
			h.assign(first.GetId(), "a")
			h.setState(first.GetId(), tt.end)
			h.step()
			old := h.taskByID(first.GetId())
			live := h.liveTasks("s")
			if tt.restart {
				if old.GetDesiredState() != stateShutdown {
					t.Fatalf("old task desired %v, want SHUTDOWN", old.GetDesiredState())
				}
				r := live["1"]
				if r == nil || r.GetId() == first.GetId() || r.GetDesiredState() != stateRunning || r.GetSlot() != 1 {
					t.Fatalf("no replacement in slot 1: %v", live)
				}
				return
			}
			if len(live) != 0 {
				t.Fatalf("restarted despite policy: %v", live)
			}
			if old.GetDesiredState() != stateComplete {
				t.Fatalf("old task desired %v, want COMPLETE (slot finished)", old.GetDesiredState())
			}
			h.step()
			if n := len(h.tasks("s")); n != 1 {
				t.Fatalf("finished slot refilled: %d tasks", n)
			}
			// A new spec version runs the slot again.
			h.editService("s", func(s *shoalv1.Service) { s.SpecVersion = 2 })
			h.step()
			if len(h.liveTasks("s")) != 1 {
				t.Fatal("finished slot not rerun after a spec update")
			}
		})
	}
}

func TestRestartDelay(t *testing.T) {
	h := newHarness(t)
	h.addNode("a", nodeUp, nil)
	h.createService(replicated("s", 1, restart(condAny, 10*time.Second, 0, 0)))
	h.step()
	first := h.tasks("s")[0]
	h.assign(first.GetId(), "a")
	h.setState(first.GetId(), failed)
	h.step()
	r := h.liveTasks("s")["1"]
	if r == nil || r.GetDesiredState() != stateReady {
		t.Fatalf("replacement %v, want desired READY during the delay", r)
	}
	if w := h.o.wakes["s"]; !w.Equal(h.clk.Now().Add(10 * time.Second)) {
		t.Fatalf("wake at %v", w)
	}
	h.clk.Advance(9 * time.Second)
	h.step()
	if got := h.taskByID(r.GetId()).GetDesiredState(); got != stateReady {
		t.Fatalf("promoted early: %v", got)
	}
	h.clk.Advance(time.Second)
	h.step()
	if got := h.taskByID(r.GetId()).GetDesiredState(); got != stateRunning {
		t.Fatalf("not promoted after the delay: %v", got)
	}
}

func TestRestartDefaultDelay(t *testing.T) {
	h := newHarness(t)
	h.createService(replicated("s", 1, &shoalv1.RestartPolicy{Condition: condAny}))
	h.step()
	first := h.tasks("s")[0]
	h.setState(first.GetId(), failed)
	h.step()
	r := h.liveTasks("s")["1"]
	if r.GetDesiredState() != stateReady {
		t.Fatalf("desired %v, want READY (default delay %v)", r.GetDesiredState(), DefaultRestartDelay)
	}
	h.clk.Advance(DefaultRestartDelay)
	h.step()
	if got := h.taskByID(r.GetId()).GetDesiredState(); got != stateRunning {
		t.Fatalf("desired %v after the default delay", got)
	}
}

// failSlot fails the live task of slot 1 and runs a pass; it reports
// whether a replacement was made.
func failSlot(h *harness) bool {
	h.t.Helper()
	tk := h.liveTasks("s")["1"]
	if tk == nil {
		return false
	}
	h.setState(tk.GetId(), failed)
	h.step()
	return h.liveTasks("s")["1"] != nil
}

func TestRestartMaxAttempts(t *testing.T) {
	h := newHarness(t)
	h.createService(replicated("s", 1, restart(condAny, 0, 2, 0)))
	h.step()
	for i := 1; i <= 2; i++ {
		if !failSlot(h) {
			t.Fatalf("restart %d refused", i)
		}
	}
	if failSlot(h) {
		t.Fatal("third restart allowed with max_attempts 2")
	}
}

// With max_attempts 1 in a one-minute window, a second failure is
// restarted only once the first restart has left the window.
func TestRestartMaxAttemptsWindow(t *testing.T) {
	for _, tc := range []struct {
		name        string
		advance     time.Duration
		wantRestart bool
	}{
		{"within the window the second failure finishes the slot", 30 * time.Second, false},
		{"the window slides", 2 * time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.createService(replicated("s", 1, restart(condAny, 0, 1, time.Minute)))
			h.step()
			if !failSlot(h) {
				t.Fatal("first restart refused")
			}
			h.clk.Advance(tc.advance)
			if got := failSlot(h); got != tc.wantRestart {
				t.Fatalf("second restart after %v: %v, want %v", tc.advance, got, tc.wantRestart)
			}
		})
	}
}

func TestRunFollowsEvents(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.o.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	st := h.st
	tasksOf := func() []*shoalv1.Task {
		var out []*shoalv1.Task
		_ = st.View(func(tx store.ReadTx) error { out, _ = tx.FindTasks(store.ByService("s")); return nil })
		return out
	}
	liveCount := func() int {
		n := 0
		for _, tk := range tasksOf() {
			if live(tk) {
				n++
			}
		}
		return n
	}
	if err := st.Update(ctx, func(tx store.Tx) error {
		return tx.Create(replicated("s", 3, restart(condAny, 5*time.Second, 0, 0)))
	}); err != nil {
		t.Fatal(err)
	}
	waitFor("3 tasks", func() bool { return liveCount() == 3 })

	first := tasksOf()[0]
	if err := st.Update(ctx, func(tx store.Tx) error {
		tk := proto.CloneOf(tx.GetTask(first.GetId()))
		tk.Status.State = failed
		return tx.Update(tk)
	}); err != nil {
		t.Fatal(err)
	}
	var repl *shoalv1.Task
	waitFor("a delayed replacement", func() bool {
		for _, tk := range tasksOf() {
			if tk.GetDesiredState() == stateReady {
				repl = tk
				return true
			}
		}
		return false
	})
	// The orchestrator armed a timer on the manual clock; firing it
	// promotes the replacement.
	waitFor("promotion", func() bool {
		h.clk.Advance(time.Second)
		var tk *shoalv1.Task
		_ = st.View(func(tx store.ReadTx) error { tk = tx.GetTask(repl.GetId()); return nil })
		return tk.GetDesiredState() == stateRunning
	})
	if liveCount() != 3 {
		t.Fatalf("%d live tasks", liveCount())
	}
}
