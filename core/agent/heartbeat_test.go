package agent

import (
	"context"
	"errors"
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

// slowBeats is a dispatcher client whose first heartbeat times out (an
// overloaded leader's late answer) and that counts sessions opened.
type slowBeats struct {
	shoalv1connect.DispatcherServiceClient
	sessions atomic.Int32
	beats    atomic.Int32
}

func (c *slowBeats) Session(ctx context.Context, req *connect.Request[shoalv1.SessionRequest]) (*connect.ServerStreamForClient[shoalv1.SessionMessage], error) {
	c.sessions.Add(1)
	return c.DispatcherServiceClient.Session(ctx, req)
}

func (c *slowBeats) Heartbeat(ctx context.Context, req *connect.Request[shoalv1.HeartbeatRequest]) (*connect.Response[shoalv1.HeartbeatResponse], error) {
	if c.beats.Add(1) == 1 {
		return nil, connect.NewError(connect.CodeDeadlineExceeded, errors.New("context deadline exceeded"))
	}
	return c.DispatcherServiceClient.Heartbeat(ctx, req)
}

// TestTimedOutHeartbeatKeepsTheSession shows one heartbeat that timed out
// is sent again within the session instead of ending it: the agent keeps
// its one session. Ending it on the first slow answer made all the agents
// of an overloaded leader reconnect at once and DOWNed those that were not
// back within a period (issue 14's re-creation storm).
func TestTimedOutHeartbeatKeepsTheSession(t *testing.T) {
	m := newManager(t, dispatcher.Config{HeartbeatPeriod: 20 * time.Millisecond})
	cl := newClients(t, "n1", map[string]string{"m1": m.srv.URL})
	sb := &slowBeats{DispatcherServiceClient: cl.client("m1")}
	client := func(string) shoalv1connect.DispatcherServiceClient { return sb }
	b := simBackend(t, sim.NewManualClock(time.Unix(0, 0)), sim.Config{})
	startAgent(t, Config{NodeID: "n1", Managers: []string{"m1"}, Client: client, Backend: b, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	poll.Until(t, "a few heartbeats after the timed-out one", func() bool { return sb.beats.Load() >= 5 })
	if n := sb.sessions.Load(); n != 1 {
		t.Fatalf("%d sessions opened; want 1 (the timed-out heartbeat ended the session)", n)
	}
}
