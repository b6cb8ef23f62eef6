package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/term"

	"github.com/shoal-project/shoal/core/taskspec"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
)

// progressStates are the steps a task's bar moves through.
var progressStates = []shoalv1.TaskState{
	shoalv1.TaskState_TASK_STATE_NEW, shoalv1.TaskState_TASK_STATE_PENDING, shoalv1.TaskState_TASK_STATE_ASSIGNED,
	shoalv1.TaskState_TASK_STATE_ACCEPTED, shoalv1.TaskState_TASK_STATE_PREPARING, shoalv1.TaskState_TASK_STATE_READY,
	shoalv1.TaskState_TASK_STATE_STARTING, shoalv1.TaskState_TASK_STATE_RUNNING,
}

func stateWord(s shoalv1.TaskState) string {
	return strings.ToLower(enumName(s.String(), "TASK_STATE_"))
}

func bar(s shoalv1.TaskState) string {
	const width = 50
	step := 0
	for i, ps := range progressStates {
		if s >= ps {
			step = i + 1
		}
	}
	if s > shoalv1.TaskState_TASK_STATE_RUNNING {
		return ""
	}
	filled := width * step / len(progressStates)
	if filled >= width {
		return "[" + strings.Repeat("=", width-1) + ">]"
	}
	return "[" + strings.Repeat("=", filled) + ">" + strings.Repeat(" ", width-filled-1) + "]"
}

type slotView struct {
	key   string
	state shoalv1.TaskState
	err   string
}

// convergence is one poll of a service's tasks.
type convergence struct {
	desired, running int
	slots            []slotView
	// gaveUp counts slots whose restart policy is exhausted: their last
	// task ended and the orchestrator will not start another.
	gaveUp  int
	lastErr string
}

func observe(ctx context.Context, cl *client.Client, svcRef string) (*shoalv1.Service, convergence, error) {
	res, err := cl.Control.GetService(ctx, connect.NewRequest(&shoalv1.GetServiceRequest{Service: svcRef}))
	if err != nil {
		return nil, convergence{}, err
	}
	svc := res.Msg.GetService()
	tr, err := cl.Control.ListTasks(ctx, connect.NewRequest(&shoalv1.ListTasksRequest{Service: svc.GetId()}))
	if err != nil {
		return nil, convergence{}, err
	}
	// Per slot (or node, for global services) the newest task meant to run.
	newest := map[string]*shoalv1.Task{}
	finished := map[string]*shoalv1.Task{}
	for _, t := range tr.Msg.GetTasks() {
		key := fmt.Sprint(t.GetSlot())
		if svc.GetSpec().GetGlobal() != nil {
			key = t.GetNodeId()
		}
		if t.GetDesiredState() == shoalv1.TaskState_TASK_STATE_COMPLETE && t.GetSpecVersion() == svc.GetSpecVersion() {
			finished[key] = t
		}
		if t.GetDesiredState() != shoalv1.TaskState_TASK_STATE_RUNNING {
			continue
		}
		if cur, ok := newest[key]; !ok || t.GetMeta().GetCreatedAt().AsTime().After(cur.GetMeta().GetCreatedAt().AsTime()) {
			newest[key] = t
		}
	}
	var c convergence
	for k, t := range finished {
		if _, live := newest[k]; !live && t.GetStatus().GetState() >= shoalv1.TaskState_TASK_STATE_COMPLETE {
			c.gaveUp++
			if e := t.GetStatus().GetErr(); e != "" {
				c.lastErr = e
			}
		}
	}
	if r := svc.GetSpec().GetReplicated(); r != nil {
		c.desired = int(r.GetReplicas())
	} else {
		c.desired = len(newest)
	}
	for k, t := range newest {
		st := t.GetStatus().GetState()
		if st == shoalv1.TaskState_TASK_STATE_RUNNING && taskspec.Current(t, svc) {
			c.running++
		}
		msg := t.GetStatus().GetErr()
		c.slots = append(c.slots, slotView{key: k, state: st, err: msg})
	}
	sort.Slice(c.slots, func(i, j int) bool {
		if len(c.slots[i].key) != len(c.slots[j].key) {
			return len(c.slots[i].key) < len(c.slots[j].key)
		}
		return c.slots[i].key < c.slots[j].key
	})
	return svc, c, nil
}

// waitConverged shows progress until every task of the service runs, like
// docker service create does.
func waitConverged(ctx context.Context, cl *client.Client, svcRef string, out io.Writer, timeout time.Duration) error {
	return waitRolled(ctx, cl, svcRef, out, timeout, rollWait{from: math.MaxUint64, rollback: true})
}

// rollWait says which rolls a wait follows: those to spec versions above
// from (the roll the command started, and a rollback of it); a rollback
// ends the wait with an error unless rollback says the command asked for one.
type rollWait struct {
	from     uint64
	rollback bool
}

// rollStarted is the rollWait of a command whose write returned svc: it
// follows the roll that write started, if any.
func rollStarted(svc *shoalv1.Service, rollback bool) rollWait {
	w := rollWait{from: svc.GetSpecVersion(), rollback: rollback}
	if st := svc.GetUpdateStatus(); st.GetSpecVersion() == w.from &&
		(st.GetState() == shoalv1.UpdateState_UPDATE_STATE_UPDATING || st.GetState() == shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_STARTED) {
		w.from--
	}
	return w
}

// waitRolled shows progress until every task of the service runs and the
// rolling update it follows (if one runs) completed, like docker service
// update does. A paused roll is an error, and so is an unasked rollback.
func waitRolled(ctx context.Context, cl *client.Client, svcRef string, out io.Writer, timeout time.Duration, rw rollWait) error {
	tty := false
	if f, ok := out.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	const verify = 2 * time.Second
	var stableSince time.Time
	lastLines := 0
	lastPlain := ""
	for {
		svc, c, err := observe(ctx, cl, svcRef)
		if err != nil {
			return err
		}
		rolled, rollLine, err := rollOutcome(svc, svcRef, rw)
		if err != nil {
			return err
		}
		lines := []string{fmt.Sprintf("overall progress: %d out of %d tasks", c.running, c.desired)}
		if rollLine != "" {
			lines = append([]string{rollLine}, lines...)
		}
		if c.desired <= 20 {
			for i, s := range c.slots {
				label := fmt.Sprintf("%d/%d", i+1, c.desired)
				if len(s.key) > 12 { // global: node IDs
					label = shortID(s.key)
				}
				line := fmt.Sprintf("%s: %-10s %s", label, stateWord(s.state), bar(s.state))
				if s.err != "" {
					line = fmt.Sprintf("%s: %s", label, s.err)
				}
				lines = append(lines, line)
			}
		}
		if c.gaveUp > 0 && c.running+c.gaveUp >= c.desired {
			return fmt.Errorf("service %s will not converge: %d task(s) ended and their restart policy allows no more attempts (last error: %s); see 'shoal service ps %s'", svcRef, c.gaveUp, cmp.Or(c.lastErr, "none"), svcRef)
		}
		converged := c.running == c.desired && rolled
		if converged {
			if stableSince.IsZero() {
				stableSince = time.Now()
			}
			if time.Since(stableSince) >= verify {
				lines = append(lines, "verify: Service converged")
			} else {
				lines = append(lines, fmt.Sprintf("verify: Waiting %d seconds to verify that tasks are stable...", int((verify-time.Since(stableSince)).Seconds()+0.999)))
			}
		} else {
			stableSince = time.Time{}
		}
		text := strings.Join(lines, "\n")
		if tty {
			if lastLines > 0 {
				fmt.Fprintf(out, "\x1b[%dA", lastLines)
			}
			for _, l := range lines {
				fmt.Fprintf(out, "\x1b[2K%s\n", l)
			}
			lastLines = len(lines)
		} else if text != lastPlain {
			// Plain output: print only what changed.
			prev := map[string]bool{}
			for _, l := range strings.Split(lastPlain, "\n") {
				prev[l] = true
			}
			for _, l := range lines {
				if !prev[l] && !strings.HasPrefix(l, "verify: Waiting") {
					fmt.Fprintln(out, l)
				}
			}
			lastPlain = text
		}
		if converged && time.Since(stableSince) >= verify {
			return nil
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return fmt.Errorf("stopped waiting; the service keeps converging in the background (see 'shoal service ps %s')", svcRef)
			}
			return fmt.Errorf("service %s did not converge within %s: %d of %d tasks running (see 'shoal service ps %s')", svcRef, timeout, c.running, c.desired, svcRef)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// rollOutcome reads svc's update status: whether its roll is over (true
// when none runs), the line to show, and the error that ends the wait when
// the roll paused or rolled back unasked.
func rollOutcome(svc *shoalv1.Service, ref string, rw rollWait) (bool, string, error) {
	st := svc.GetUpdateStatus()
	if st.GetSpecVersion() != svc.GetSpecVersion() || st.GetSpecVersion() <= rw.from {
		return true, "", nil
	}
	line := ""
	if taskspec.RollingBack(svc) {
		line = "rollback: " + st.GetMessage()
	}
	switch st.GetState() {
	case shoalv1.UpdateState_UPDATE_STATE_PAUSED, shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_PAUSED:
		return false, line, fmt.Errorf("service %s: %s; fix the spec and update again, or 'shoal service rollback %s'", ref, st.GetMessage(), ref)
	case shoalv1.UpdateState_UPDATE_STATE_COMPLETED:
		return true, line, nil
	case shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_COMPLETED:
		if !rw.rollback {
			return false, line, fmt.Errorf("service %s is back on its previous spec: %s", ref, st.GetMessage())
		}
		return true, line, nil
	}
	return false, line, nil
}
