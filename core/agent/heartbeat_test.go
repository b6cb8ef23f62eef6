package agent

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/dispatcher"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/internal/poll"
	"github.com/shoal-project/shoal/runtime/sim"
)

// slowBeats is a dispatcher client whose first heartbeats time out (an
// overloaded leader's late answers, or a starved agent's) and that counts
// sessions opened.
type slowBeats struct {
	shoalv1connect.DispatcherServiceClient
	late     int32 // heartbeats that time out, from the first; -1: all
	sessions atomic.Int32
	beats    atomic.Int32
}

func (c *slowBeats) Session(ctx context.Context, req *connect.Request[shoalv1.SessionRequest]) (*connect.ServerStreamForClient[shoalv1.SessionMessage], error) {
	c.sessions.Add(1)
	return c.DispatcherServiceClient.Session(ctx, req)
}

func (c *slowBeats) Heartbeat(ctx context.Context, req *connect.Request[shoalv1.HeartbeatRequest]) (*connect.Response[shoalv1.HeartbeatResponse], error) {
	if n := c.beats.Add(1); c.late < 0 || n <= c.late {
		return nil, connect.NewError(connect.CodeDeadlineExceeded, errors.New("context deadline exceeded"))
	}
	return c.DispatcherServiceClient.Heartbeat(ctx, req)
}

// TestTimedOutHeartbeatsKeepTheSession shows heartbeats that timed out
// are sent again within the session instead of ending it, up to the
// manager's grace: the agent keeps its one session. Ending it on the first
// slow answer made all the agents of an overloaded leader reconnect at once
// and DOWNed those that were not back within a period (issue 14's
// re-creation storm); ending it on the second still ended ~800 sessions in
// a 2,400-node run.
func TestTimedOutHeartbeatsKeepTheSession(t *testing.T) {
	for _, late := range []int32{1, 2} {
		t.Run(fmt.Sprintf("late=%d", late), func(t *testing.T) {
			m := newManager(t, dispatcher.Config{HeartbeatPeriod: 20 * time.Millisecond})
			cl := newClients(t, "n1", map[string]string{"m1": m.srv.URL})
			sb := &slowBeats{DispatcherServiceClient: cl.client("m1"), late: late}
			client := func(string) shoalv1connect.DispatcherServiceClient { return sb }
			b := simBackend(t, sim.NewManualClock(time.Unix(0, 0)), sim.Config{})
			startAgent(t, Config{NodeID: "n1", Managers: []string{"m1"}, Client: client, Backend: b, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
			poll.Until(t, "a few heartbeats after the timed-out ones", func() bool { return sb.beats.Load() >= late+4 })
			if n := sb.sessions.Load(); n != 1 {
				t.Fatalf("%d sessions opened; want 1 (the timed-out heartbeats ended the session)", n)
			}
		})
	}
}

// TestHeartbeatsTimingOutPastTheGraceEndTheSession: an agent whose
// heartbeats all time out gives its session up after heartbeatTries and
// opens another (where the manager may answer: a failed-over leader).
func TestHeartbeatsTimingOutPastTheGraceEndTheSession(t *testing.T) {
	m := newManager(t, dispatcher.Config{HeartbeatPeriod: 20 * time.Millisecond})
	cl := newClients(t, "n1", map[string]string{"m1": m.srv.URL})
	sb := &slowBeats{DispatcherServiceClient: cl.client("m1"), late: -1}
	client := func(string) shoalv1connect.DispatcherServiceClient { return sb }
	b := simBackend(t, sim.NewManualClock(time.Unix(0, 0)), sim.Config{})
	startAgent(t, Config{NodeID: "n1", Managers: []string{"m1"}, Client: client, Backend: b, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	poll.Until(t, "a second session", func() bool { return sb.sessions.Load() >= 2 })
	if n := sb.beats.Load(); n < heartbeatTries {
		t.Fatalf("session given up after %d heartbeats; want at least %d", n, heartbeatTries)
	}
}
