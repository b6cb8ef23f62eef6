package api

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// ErrLeadershipMoved asks the caller to retry a demotion or removal of the
// former leader: the new leader can do it.
var ErrLeadershipMoved = errors.New("leadership moved")

// resolveNode finds a node by ID, unambiguous ID prefix, or hostname.
func resolveNode(tx store.ReadTx, ref string) (*shoalv1.Node, error) {
	if ref == "" {
		return nil, invalidArg("node: give a node ID, ID prefix or hostname")
	}
	// A whole ID, then a hostname, then an ID prefix (Docker's order): a
	// hostname such as "m1" must not resolve to a node whose random ID
	// happens to start with "m1" (the chaos suite demoted the wrong node).
	// Copies: the store's reads are shared and callers change the node.
	if n := tx.GetNode(ref); n != nil {
		return proto.CloneOf(n), nil
	}
	byName, err := tx.FindNodes(store.ByHostname(ref))
	if err != nil {
		return nil, err
	}
	switch len(byName) {
	case 0:
	case 1:
		return proto.CloneOf(byName[0]), nil
	default:
		return nil, invalidArg("node %q: %d nodes have this hostname; use the node ID", ref, len(byName))
	}
	id, err := tx.Resolve(store.KindNode, ref)
	switch {
	case err == nil:
		return proto.CloneOf(tx.GetNode(id)), nil
	case errors.Is(err, store.ErrAmbiguousPrefix):
		return nil, invalidArg("node %q: the ID prefix matches several nodes; give more characters", ref)
	}
	return nil, objectNotFound(KindNode, ref)
}

// withLiveStatus fills in manager reachability and leadership as the Raft
// leader sees them now. The nodes read from the store are shared, so each
// manager's entry is replaced by a copy.
func (s *Server) withLiveStatus(nodes []*shoalv1.Node) {
	members := map[string]Member{}
	for _, m := range s.cluster.Members() {
		members[m.NodeID] = m
	}
	for i, n := range nodes {
		m, ok := members[n.GetId()]
		if !ok {
			continue
		}
		reach := shoalv1.Reachability_REACHABILITY_UNREACHABLE
		if m.Reachable || m.Leader {
			reach = shoalv1.Reachability_REACHABILITY_REACHABLE
		}
		n = proto.CloneOf(n)
		n.ManagerStatus = &shoalv1.ManagerStatus{RaftId: m.RaftID, Addr: m.Addr, Reachability: reach, Leader: m.Leader, Learner: m.Learner}
		nodes[i] = n
	}
}

func (s *Server) ListNodes(ctx context.Context, req *connect.Request[shoalv1.ListNodesRequest]) (*connect.Response[shoalv1.ListNodesResponse], error) {
	var nodes []*shoalv1.Node
	err := s.read(ctx, func(tx store.ReadTx) (err error) {
		if r := req.Msg.GetRole(); r != shoalv1.NodeRole_NODE_ROLE_UNSPECIFIED {
			nodes, err = tx.FindNodes(store.ByRole(r))
		} else {
			nodes, err = tx.FindNodes(store.All())
		}
		return err
	})
	if err != nil {
		return nil, storeErr(err)
	}
	s.withLiveStatus(nodes)
	return connect.NewResponse(&shoalv1.ListNodesResponse{Nodes: nodes}), nil
}

func (s *Server) GetNode(ctx context.Context, req *connect.Request[shoalv1.GetNodeRequest]) (*connect.Response[shoalv1.GetNodeResponse], error) {
	var n *shoalv1.Node
	if err := s.read(ctx, func(tx store.ReadTx) (err error) { n, err = resolveNode(tx, req.Msg.GetNode()); return err }); err != nil {
		return nil, storeErr(err)
	}
	live := []*shoalv1.Node{n}
	s.withLiveStatus(live)
	return connect.NewResponse(&shoalv1.GetNodeResponse{Node: live[0]}), nil
}

var labelKeyRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._/-]{0,126}[A-Za-z0-9])?$`)

func validateLabels(field string, labels map[string]string) error {
	for k, v := range labels {
		if !labelKeyRE.MatchString(k) {
			return invalidArg("%s: label key %q: use letters, digits, '.', '_', '-', '/' (at most 128, starting and ending with a letter or digit)", field, k)
		}
		if len(v) > 1024 {
			return invalidArg("%s: label %q: value longer than 1024 bytes", field, k)
		}
	}
	return nil
}

func (s *Server) UpdateNode(ctx context.Context, req *connect.Request[shoalv1.UpdateNodeRequest]) (*connect.Response[shoalv1.UpdateNodeResponse], error) {
	m := req.Msg
	if err := validateLabels("label_add", m.GetLabelAdd()); err != nil {
		return nil, err
	}
	if _, ok := shoalv1.NodeAvailability_name[int32(m.GetAvailability())]; !ok {
		return nil, invalidArg("availability %d: use ACTIVE, PAUSE or DRAIN", m.GetAvailability())
	}
	var out *shoalv1.Node
	err := s.store.Update(ctx, func(tx store.Tx) error {
		n, err := resolveNode(tx, m.GetNode())
		if err != nil {
			return err
		}
		if n.Spec == nil {
			n.Spec = &shoalv1.NodeSpec{}
		}
		if a := m.GetAvailability(); a != shoalv1.NodeAvailability_NODE_AVAILABILITY_UNSPECIFIED {
			n.Spec.Availability = a
		}
		for _, k := range m.GetLabelRm() {
			if _, ok := n.Spec.Labels[k]; !ok {
				return notFound("label_rm: node %s has no label %q", n.GetId(), k)
			}
			delete(n.Spec.Labels, k)
		}
		for k, v := range m.GetLabelAdd() {
			if n.Spec.Labels == nil {
				n.Spec.Labels = map[string]string{}
			}
			n.Spec.Labels[k] = v
		}
		out = n
		return tx.Update(n)
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return connect.NewResponse(&shoalv1.UpdateNodeResponse{Node: out}), nil
}

func (s *Server) PromoteNode(ctx context.Context, req *connect.Request[shoalv1.PromoteNodeRequest]) (*connect.Response[shoalv1.PromoteNodeResponse], error) {
	out, err := s.setDesiredRole(ctx, req.Msg.GetNode(), shoalv1.NodeRole_NODE_ROLE_MANAGER)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&shoalv1.PromoteNodeResponse{Node: out}), nil
}

func (s *Server) DemoteNode(ctx context.Context, req *connect.Request[shoalv1.DemoteNodeRequest]) (*connect.Response[shoalv1.DemoteNodeResponse], error) {
	if err := s.cluster.ReadBarrier(ctx); err != nil {
		return nil, storeErr(err)
	}
	var target *shoalv1.Node
	if err := s.store.View(func(tx store.ReadTx) (err error) { target, err = resolveNode(tx, req.Msg.GetNode()); return err }); err != nil {
		return nil, storeErr(err)
	}
	if target.GetRole() == shoalv1.NodeRole_NODE_ROLE_MANAGER {
		if err := s.removeManager(ctx, target.GetId()); err != nil {
			return nil, err
		}
	}
	out, err := s.setDesiredRole(ctx, target.GetId(), shoalv1.NodeRole_NODE_ROLE_WORKER)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&shoalv1.DemoteNodeResponse{Node: out}), nil
}

// removeManager takes a manager out of the Raft group after checking that the
// group keeps a quorum of reachable members.
func (s *Server) removeManager(ctx context.Context, nodeID string) error {
	members := s.cluster.Members()
	var target *Member
	voters, reachable := 0, 0
	for i := range members {
		if members[i].NodeID == nodeID {
			target = &members[i]
		}
		if members[i].Learner {
			continue // not part of any quorum
		}
		voters++
		if members[i].Reachable || members[i].Leader {
			reachable++
		}
	}
	if target == nil {
		return nil // not a Raft member (any more)
	}
	if target.Learner {
		// A learner still catching up votes in nothing: removing it
		// never costs the cluster its quorum.
		if err := s.cluster.RemoveMember(ctx, target.RaftID); err != nil {
			return storeErr(fmt.Errorf("remove manager %s from raft: %w", nodeID, err))
		}
		return nil
	}
	if voters == 1 {
		return precondition("node %s is the last manager: a cluster needs one; promote another node first", nodeID)
	}
	if target.Leader {
		// The leader cannot take itself out: hand leadership over; the
		// caller retries and the new leader removes this one.
		if err := s.cluster.TransferLeadership(ctx); err != nil {
			return precondition("node %s is the Raft leader and could not hand leadership over (%v): bring another manager up first", nodeID, err)
		}
		return connect.NewError(connect.CodeUnavailable, fmt.Errorf("%w: node %s led the cluster; leadership moved to another manager: retry", ErrLeadershipMoved, nodeID))
	}
	left := voters - 1
	stillReachable := reachable
	if target.Reachable {
		stillReachable--
	}
	if stillReachable < left/2+1 {
		return precondition("removing manager %s would leave %d of %d managers reachable, below a quorum of %d: bring managers back first", nodeID, stillReachable, left, left/2+1)
	}
	if err := s.cluster.RemoveMember(ctx, target.RaftID); err != nil {
		return storeErr(fmt.Errorf("remove manager %s from raft: %w", nodeID, err))
	}
	return nil
}

func (s *Server) setDesiredRole(ctx context.Context, ref string, role shoalv1.NodeRole) (*shoalv1.Node, error) {
	var out *shoalv1.Node
	err := s.store.Update(ctx, func(tx store.Tx) error {
		n, err := resolveNode(tx, ref)
		if err != nil {
			return err
		}
		if n.Spec == nil {
			n.Spec = &shoalv1.NodeSpec{}
		}
		n.Spec.DesiredRole = role
		if role == shoalv1.NodeRole_NODE_ROLE_WORKER {
			n.ManagerStatus = nil
		}
		out = n
		return tx.Update(n)
	})
	return out, storeErr(err)
}

func (s *Server) RemoveNode(ctx context.Context, req *connect.Request[shoalv1.RemoveNodeRequest]) (*connect.Response[shoalv1.RemoveNodeResponse], error) {
	if err := s.cluster.ReadBarrier(ctx); err != nil {
		return nil, storeErr(err)
	}
	var n *shoalv1.Node
	if err := s.store.View(func(tx store.ReadTx) (err error) { n, err = resolveNode(tx, req.Msg.GetNode()); return err }); err != nil {
		return nil, storeErr(err)
	}
	force := req.Msg.GetForce()
	isMember := false
	for _, m := range s.cluster.Members() {
		if m.NodeID == n.GetId() {
			isMember = true
			if (m.Reachable || m.Leader) && !force {
				return nil, precondition("node %s is a reachable manager: demote it first, or remove it with force", n.GetId())
			}
		}
	}
	if isMember {
		if err := s.removeManager(ctx, n.GetId()); err != nil {
			return nil, err
		}
	} else if n.GetStatus().GetState() == shoalv1.NodeState_NODE_STATE_READY && !force {
		return nil, precondition("node %s is ready: stop it first, or remove it with force", n.GetId())
	}
	err := s.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.Delete(store.KindNode, n.GetId()); err != nil {
			return err
		}
		return s.rememberRemoved(tx, n.GetId())
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return connect.NewResponse(&shoalv1.RemoveNodeResponse{}), nil
}

// rememberRemoved records a removed node in the cluster so its certificate
// is refused from now on.
func (s *Server) rememberRemoved(tx store.Tx, nodeID string) error {
	c, err := clusterObj(tx)
	if err != nil {
		return err
	}
	if slices.Contains(c.RemovedNodes, nodeID) {
		return nil
	}
	c.RemovedNodes = append(c.RemovedNodes, nodeID)
	return tx.Update(c)
}
