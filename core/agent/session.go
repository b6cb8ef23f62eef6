package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/auth"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
)

// maxRedirects is how many leader redirects are followed in a row before
// the agent backs off (a redirect loop during an election).
const maxRedirects = 3

// sleep waits d on the agent's clock; false if ctx ended first.
func (a *Agent) sleep(ctx context.Context, d time.Duration) bool {
	return a.sleepOr(ctx, d, nil)
}

// sleepOr is sleep that a receive on wake (nil: never) also ends, with false.
func (a *Agent) sleepOr(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	ch := make(chan struct{})
	t := a.cfg.Clock.AfterFunc(d, func() { close(ch) })
	select {
	case <-ch:
		return true
	case <-wake:
	case <-ctx.Done():
	}
	t.Stop()
	return false
}

// connectLoop keeps a session open with the leader until ctx ends: it
// tries the managers in turn, follows redirects to the leader, and waits a
// jittered, exponentially growing, capped delay after each failure. It
// returns true, early, when a manager says this node was removed.
func (a *Agent) connectLoop(ctx context.Context) (removed bool) {
	next := 0
	attempt := 0
	redirects := 0
	redirect := ""
	for ctx.Err() == nil {
		addr := redirect
		if addr == "" {
			addr = a.managerAt(next)
			next++
		}
		redirect = ""
		established, leader, err := a.runSession(ctx, addr)
		if ctx.Err() != nil {
			return false
		}
		if auth.IsNodeRemoved(err) {
			a.log.Warn("a manager says this node was removed from the cluster", "manager", addr, "err", err)
			return true
		}
		if leader != "" && redirects < maxRedirects {
			redirects++
			redirect = leader
			a.log.Info("manager redirected to the leader", "manager", addr, "leader", leader)
			continue
		}
		redirects = 0
		if established {
			attempt = 0
		}
		delay := backoff(attempt, a.cfg.MinBackoff, a.cfg.MaxBackoff, a.cfg.Rand)
		attempt++
		a.log.Warn("session with manager ended", "manager", addr, "err", err, "retry_in", delay)
		if !a.sleep(ctx, delay) {
			return false
		}
	}
	return false
}

// runSession opens a session with addr and serves it until it fails. It
// returns whether the session was established, or the leader's address
// when addr is a follower.
func (a *Agent) runSession(ctx context.Context, addr string) (bool, string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := a.cfg.Client(addr)
	stream, err := client.Session(ctx, connect.NewRequest(&shoalv1.SessionRequest{
		Description:  a.description(),
		AgentVersion: a.cfg.Version,
		RunningTasks: a.runningTasks(),
	}))
	if err != nil {
		return false, "", err
	}
	defer stream.Close()
	if !stream.Receive() {
		err := stream.Err()
		if err == nil {
			err = errors.New("session stream ended without a message")
		}
		return false, "", err
	}
	first := stream.Msg()
	a.learnManagers(first.GetManagers())
	if first.GetLeaderAddr() != "" {
		return false, first.GetLeaderAddr(), nil
	}
	sessID := first.GetSessionId()
	if sessID == "" {
		return false, "", errors.New("manager sent no session id")
	}
	period := first.GetHeartbeatPeriod().AsDuration()
	if period <= 0 {
		period = DefaultHeartbeatPeriod
	}
	a.log.Info("session open", "manager", addr, "session", sessID, "heartbeat", period)
	a.applyGossip(first)
	a.applyWireGuardPeers(first, true)
	a.rep.resendAll()

	var wg sync.WaitGroup
	errc := make(chan error, 4)
	spawn := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- f()
		}()
	}
	spawn(func() error { return a.heartbeats(ctx, client, sessID, period) })
	spawn(func() error { return a.assignments(ctx, client, sessID) })
	spawn(func() error { return a.flushStatus(ctx, client, sessID) })
	spawn(func() error { return a.sessionMessages(ctx, stream, client, &wg) })
	err = <-errc
	cancel()
	wg.Wait()
	return true, "", err
}

// heartbeatTries is how many times in a row a heartbeat is sent when each
// attempt times out (one period each) before the session is given up: the
// manager keeps a session for GraceMultiplier (3) periods after the last
// heartbeat it received, so the agent gives up only when the manager must
// have given up too (it says so: a heartbeat of an expired session is
// refused, and the agent opens a new one at once).
const heartbeatTries = 3

// heartbeats sends a heartbeat every period until one fails. A heartbeat
// that timed out is sent again at once, up to heartbeatTries in a row.
// Ending the session on one slow answer made every agent of an overloaded
// leader reconnect (TLS, a new session, its tasks resent), the closed
// streams DOWNed the nodes that did not make it back within a period, and
// their tasks were re-created elsewhere: a storm that fed itself (issue 14,
// 2,400 nodes x 100k tasks). One retry was not enough there either: an
// agent on a starved machine sees its own deadline pass before it reads
// an answer that arrived in time, twice in a row (RATIONALE.md, "Heartbeats
// given up only with the manager").
func (a *Agent) heartbeats(ctx context.Context, client shoalv1connect.DispatcherServiceClient, sessID string, period time.Duration) error {
	for {
		if !a.sleep(ctx, period) {
			return ctx.Err()
		}
		resp, err := a.heartbeat(ctx, client, sessID, period)
		for try := 1; try < heartbeatTries && err != nil && ctx.Err() == nil && connect.CodeOf(err) == connect.CodeDeadlineExceeded; try++ {
			a.log.Warn("heartbeat timed out; sending it again", "err", err, "try", try+1)
			resp, err = a.heartbeat(ctx, client, sessID, period)
		}
		if err != nil {
			return fmt.Errorf("heartbeat: %w", err)
		}
		if p := resp.Msg.GetPeriod().AsDuration(); p > 0 && p != period {
			a.log.Info("heartbeat period set by the manager", "old", period, "period", p)
			period = p
		}
	}
}

// heartbeat sends one heartbeat, given max(period, 1 s) to be answered.
func (a *Agent) heartbeat(ctx context.Context, client shoalv1connect.DispatcherServiceClient, sessID string, period time.Duration) (*connect.Response[shoalv1.HeartbeatResponse], error) {
	hctx, cancel := context.WithTimeout(ctx, max(period, time.Second))
	defer cancel()
	return client.Heartbeat(hctx, connect.NewRequest(&shoalv1.HeartbeatRequest{SessionId: sessID, WireguardPublicKey: a.wireGuardKey()}))
}

func (a *Agent) assignments(ctx context.Context, client shoalv1connect.DispatcherServiceClient, sessID string) error {
	as, err := client.Assignments(ctx, connect.NewRequest(&shoalv1.AssignmentsRequest{SessionId: sessID}))
	if err != nil {
		return fmt.Errorf("assignments: %w", err)
	}
	defer as.Close()
	var seq uint64
	for as.Receive() {
		m := as.Msg()
		if m.GetSequence() <= seq {
			a.log.Warn("assignments out of sequence", "seq", m.GetSequence(), "last", seq)
		}
		seq = m.GetSequence()
		select {
		case a.assignCh <- m:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := as.Err(); err != nil {
		return fmt.Errorf("assignments: %w", err)
	}
	return errors.New("assignments stream ended")
}

// flushStatus sends the queued status reports every StatusFlushInterval.
func (a *Agent) flushStatus(ctx context.Context, client shoalv1connect.DispatcherServiceClient, sessID string) error {
	for {
		if !a.sleep(ctx, a.cfg.StatusFlushInterval) {
			return ctx.Err()
		}
		ups := a.rep.take()
		if len(ups) == 0 {
			continue
		}
		_, err := client.UpdateTaskStatus(ctx, connect.NewRequest(&shoalv1.UpdateTaskStatusRequest{SessionId: sessID, Updates: ups}))
		switch code := connect.CodeOf(err); {
		case err == nil:
		case code == connect.CodePermissionDenied || code == connect.CodeInvalidArgument:
			// Resending the same reports cannot succeed; keep the session.
			a.log.Warn("manager refused status reports; dropping them", "reports", len(ups), "err", err)
		default:
			a.rep.requeue(ups)
			return fmt.Errorf("update task status: %w", err)
		}
	}
}

// sessionMessages reads the session stream for log subscriptions.
func (a *Agent) sessionMessages(ctx context.Context, stream *connect.ServerStreamForClient[shoalv1.SessionMessage], client shoalv1connect.DispatcherServiceClient, wg *sync.WaitGroup) error {
	subs := make(map[string]context.CancelFunc)
	defer func() {
		for _, c := range subs {
			c()
		}
	}()
	for stream.Receive() {
		a.learnManagers(stream.Msg().GetManagers())
		a.applyGossip(stream.Msg())
		a.applyWireGuardPeers(stream.Msg(), false)
		for _, sub := range stream.Msg().GetLogSubscriptions() {
			if sub.GetClose() {
				if c := subs[sub.GetId()]; c != nil {
					c()
					delete(subs, sub.GetId())
				}
				continue
			}
			if _, dup := subs[sub.GetId()]; dup {
				continue
			}
			sctx, c := context.WithCancel(ctx)
			subs[sub.GetId()] = c
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := a.publishLogs(sctx, client, sub); err != nil && sctx.Err() == nil {
					a.log.Warn("log subscription failed", "subscription", sub.GetId(), "err", err)
				}
			}()
		}
	}
	if err := stream.Err(); err != nil {
		return fmt.Errorf("session stream: %w", err)
	}
	return errors.New("session stream ended")
}

// applyGossip hands a session message's gossip keys (and peers) to the
// node's network side, or to its failure-detection-only gossip member.
func (a *Agent) applyGossip(m *shoalv1.SessionMessage) {
	g := a.cfg.Gossip
	if a.cfg.Network != nil {
		g = a.cfg.Network
	}
	if g == nil || len(m.GetGossipKeys()) == 0 {
		return
	}
	if err := g.SetGossip(m.GetGossipKeys(), m.GetGossipPeers()); err != nil {
		a.log.Warn("gossip", "err", err)
	}
}
