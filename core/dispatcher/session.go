package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// caller returns the calling node's ID from its certificate.
func (d *Dispatcher) caller(ctx context.Context) (string, bool, error) {
	id, mgr, err := d.cfg.NodeIdentity(ctx)
	if err != nil {
		return "", false, connect.NewError(connect.CodeUnauthenticated, err)
	}
	if id == "" {
		return "", false, connect.NewError(connect.CodeUnauthenticated, ErrNoIdentity)
	}
	return id, mgr, nil
}

// sessionOf returns the open session sessionID of node nodeID, or a
// NotFound / PermissionDenied error telling the agent to open a new one.
func (d *Dispatcher) sessionOf(nodeID, sessionID string) (*session, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sessionOfLocked(nodeID, sessionID)
}

func (d *Dispatcher) sessionOfLocked(nodeID, sessionID string) (*session, error) {
	if !d.running {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("session %q: %w", sessionID, ErrNotRunning))
	}
	s := d.sessions[sessionID]
	if s == nil {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("session %q is unknown or expired: open a new session", sessionID))
	}
	if s.nodeID != nodeID {
		return nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("session %q belongs to another node", sessionID))
	}
	return s, nil
}

// Session registers the node and keeps a stream open to push log
// subscriptions. A follower answers with the leader's address and ends.
func (d *Dispatcher) Session(ctx context.Context, req *connect.Request[shoalv1.SessionRequest], stream *connect.ServerStream[shoalv1.SessionMessage]) error {
	nodeID, mgr, err := d.caller(ctx)
	if err != nil {
		return err
	}
	if !d.cfg.IsLeader() {
		leader := d.cfg.LeaderAddr()
		if leader == "" {
			return connect.NewError(connect.CodeUnavailable, errors.New("dispatcher: this manager is not the leader and no leader is known"))
		}
		return stream.Send(&shoalv1.SessionMessage{NodeId: nodeID, LeaderAddr: leader, Managers: d.cfg.Managers()})
	}
	if err := CheckVersion(d.cfg.Version, req.Msg.GetAgentVersion()); err != nil {
		return connect.NewError(connect.CodeFailedPrecondition, err)
	}

	now := d.cfg.Clock.Now()
	s := &session{id: newID(), nodeID: nodeID, done: make(chan struct{}), notify: make(chan struct{}, 1)}
	d.mu.Lock()
	if !d.running {
		d.mu.Unlock()
		return connect.NewError(connect.CodeUnavailable, ErrNotRunning)
	}
	old := d.nodes[nodeID]
	if old != nil && old.sess != nil {
		delete(d.sessions, old.sess.id)
		old.sess.close()
		d.nodeGoneLocked(nodeID)
	}
	d.sessions[s.id] = s
	delete(d.guard.downAt, nodeID) // healthy again
	d.nodes[nodeID] = &nodeEntry{sess: s, deadline: now.Add(d.graceLocked()), lastBeat: now, gossipAddr: req.Msg.GetDescription().GetGossipAddr(),
		wg: wgPeerOf(req.Msg.GetDescription())}
	d.peers.add(nodeID, d.nodes[nodeID])
	if d.nodes[nodeID].wg.valid() || (old != nil && old.wg.valid()) {
		d.signalOthersLocked(nodeID) // its tunnel joins, changes or leaves the peers
	}
	keys, peers := d.gossipKeysLocked(), d.gossipPeersLocked(nodeID)
	wgSent := d.wireGuardPeersLocked(nodeID)
	d.resubscribeLocked(nodeID, s)
	d.queueNodeLocked(nodeID, nodeUpdate{
		state:   shoalv1.NodeState_NODE_STATE_READY,
		desc:    req.Msg.GetDescription(),
		addr:    req.Peer().Addr,
		manager: mgr,
		at:      now,
	})
	d.mu.Unlock()
	d.log.Info("session opened", "node", nodeID, "session", s.id, "agent_version", req.Msg.GetAgentVersion(), "addr", req.Peer().Addr, "running_tasks", len(req.Msg.GetRunningTasks()))

	managers := d.cfg.Managers()
	if err := stream.Send(&shoalv1.SessionMessage{
		SessionId:       s.id,
		NodeId:          nodeID,
		Managers:        managers,
		HeartbeatPeriod: durationpb.New(d.heartbeatPeriod()),
		GossipKeys:      keys,
		GossipPeers:     peers,
		WireguardPeers:  wireGuardChanges(nil, wgSent),
	}); err != nil {
		return err
	}
	// Every heartbeat period, tell the agent when the managers changed, so
	// it can fail over to managers that joined after its session opened.
	refresh := make(chan struct{}, 1)
	arm := func() Timer {
		return d.cfg.Clock.AfterFunc(d.heartbeatPeriod(), func() { signal(refresh) })
	}
	timer := arm()
	defer func() { timer.Stop() }()
	for {
		select {
		case <-refresh:
			timer = arm()
			if cur := d.cfg.Managers(); !slices.Equal(cur, managers) {
				managers = cur
				if err := stream.Send(&shoalv1.SessionMessage{SessionId: s.id, NodeId: nodeID, Managers: cur}); err != nil {
					return err
				}
			}
		case <-ctx.Done():
			// The stream went away: the node has one heartbeat period to
			// open a new session (see streamGone).
			d.streamGone(nodeID, s)
			return nil
		case <-s.done:
			return connect.NewError(connect.CodeAborted, fmt.Errorf("session %s ended (replaced, expired or leadership lost): open a new session", s.id))
		case <-s.notify:
			msg := &shoalv1.SessionMessage{SessionId: s.id, NodeId: nodeID, LogSubscriptions: s.takeSubs()}
			d.mu.Lock()
			if cur := d.gossipKeysLocked(); !slices.EqualFunc(cur, keys, slices.Equal) {
				keys, msg.GossipKeys = cur, cur
			}
			cur := d.wireGuardPeersLocked(nodeID)
			msg.WireguardPeers, wgSent = wireGuardChanges(wgSent, cur), cur
			d.mu.Unlock()
			if len(msg.LogSubscriptions) == 0 && len(msg.GossipKeys) == 0 && len(msg.WireguardPeers) == 0 {
				continue
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
	}
}

// Heartbeat extends the session's life by HeartbeatPeriod*GraceMultiplier.
func (d *Dispatcher) Heartbeat(ctx context.Context, req *connect.Request[shoalv1.HeartbeatRequest]) (*connect.Response[shoalv1.HeartbeatResponse], error) {
	nodeID, _, err := d.caller(ctx)
	if err != nil {
		return nil, err
	}
	now := d.cfg.Clock.Now()
	d.mu.Lock()
	s, err := d.sessionOfLocked(nodeID, req.Msg.GetSessionId())
	if err != nil {
		d.mu.Unlock()
		return nil, err
	}
	e := d.nodes[nodeID]
	// A late heartbeat while the cluster is disrupted, or of a node the
	// disruption guard held, shows the node alive after all: keep it.
	if e == nil || e.sess != s || (!e.held && !d.guard.disrupted && d.expiredLocked(nodeID, e, now) != "") {
		d.expireLocked(nodeID, now)
		d.mu.Unlock()
		return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("session %s expired: open a new session", s.id))
	}
	e.deadline, e.lastBeat, e.held = now.Add(d.graceLocked()), now, false
	d.setWireGuardKeyLocked(nodeID, e, req.Msg.GetWireguardPublicKey())
	period := d.period
	d.mu.Unlock()
	return connect.NewResponse(&shoalv1.HeartbeatResponse{Period: durationpb.New(period)}), nil
}
