package api

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/ca"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// redactCluster strips the CA key, the join tokens, the gossip keys and
// the secret data key.
func redactCluster(c *shoalv1.Cluster) *shoalv1.Cluster {
	c = proto.CloneOf(c)
	if c.RootCa != nil {
		c.RootCa.CaKeyPem = nil
	}
	if c.RootRotation != nil {
		c.RootRotation.CaKeyPem = nil
	}
	c.JoinTokens = nil
	c.GossipKeys = nil
	c.SecretDataKey = nil
	c.UnlockKey = nil
	return c
}

func (s *Server) GetCluster(ctx context.Context, _ *connect.Request[shoalv1.GetClusterRequest]) (*connect.Response[shoalv1.GetClusterResponse], error) {
	var c *shoalv1.Cluster
	if err := s.read(ctx, func(tx store.ReadTx) (err error) { c, err = clusterObj(tx); return err }); err != nil {
		return nil, storeErr(err)
	}
	res := &shoalv1.GetClusterResponse{Cluster: redactCluster(c)}
	for _, m := range s.cluster.Members() {
		if m.Leader {
			res.LeaderNodeId = m.NodeID
		}
	}
	res.RaftTerm, res.RaftAppliedIndex = s.cluster.Status()
	return connect.NewResponse(res), nil
}

func validateClusterSpec(sp *shoalv1.ClusterSpec) error {
	if sp == nil {
		return invalidArg("spec: required")
	}
	if err := validateRebalance("spec.rebalance", sp.GetRebalance()); err != nil {
		return err
	}
	if d := sp.GetHeartbeatPeriod(); d != nil && (d.AsDuration() < 100e6 || d.AsDuration() > 600e9) {
		return invalidArg("spec.heartbeat_period %s: use 100ms to 10m", d.AsDuration())
	}
	if m := sp.GetHeartbeatGraceMultiplier(); m != 0 && (m < 2 || m > 100) {
		return invalidArg("spec.heartbeat_grace_multiplier %d: use 2 to 100", m)
	}
	if n := sp.GetSnapshotInterval(); n != 0 && n < 100 {
		return invalidArg("spec.snapshot_interval %d: use at least 100 entries", n)
	}
	if d := sp.GetNodeCertExpiry(); d != nil && d.AsDuration() != 0 && (d.AsDuration() < ca.MinNodeCertLifetime || d.AsDuration() > ca.RootLifetime) {
		return invalidArg("spec.node_cert_expiry %s: use %s to %s (nodes renew at 50-80%% of it)", d.AsDuration(), ca.MinNodeCertLifetime, ca.RootLifetime)
	}
	if n := sp.GetTaskHistoryLimit(); n > 100 {
		return invalidArg("spec.task_history_limit %d: use 0 to 100", n)
	}
	return validatePool(sp)
}

func (s *Server) UpdateCluster(ctx context.Context, req *connect.Request[shoalv1.UpdateClusterRequest]) (*connect.Response[shoalv1.UpdateClusterResponse], error) {
	if err := validateClusterSpec(req.Msg.GetSpec()); err != nil {
		return nil, err
	}
	var out *shoalv1.Cluster
	err := s.store.Update(ctx, func(tx store.Tx) error {
		c, err := clusterObj(tx)
		if err != nil {
			return err
		}
		if v := req.Msg.GetVersion(); v != 0 && v != c.GetMeta().GetVersion() {
			return connect.NewError(connect.CodeAborted, fmt.Errorf("version %d is stale (cluster is at %d): inspect the cluster again and retry", v, c.GetMeta().GetVersion()))
		}
		if err := s.checkRebalancePlugin(tx, "spec.rebalance", req.Msg.GetSpec().GetRebalance()); err != nil {
			return err
		}
		sp := proto.CloneOf(req.Msg.GetSpec())
		sp.DefaultScheduler, sp.DefaultAllocator = c.GetSpec().GetDefaultScheduler(), c.GetSpec().GetDefaultAllocator()
		sp.ShadowScheduler, sp.ShadowService = c.GetSpec().GetShadowScheduler(), c.GetSpec().GetShadowService() // plugin shadow sets them
		c.Spec = sp
		if err := s.keepUnlockKey(c); err != nil {
			return err
		}
		out = c
		return tx.Update(c)
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return connect.NewResponse(&shoalv1.UpdateClusterResponse{Cluster: redactCluster(out)}), nil
}

func (s *Server) GetJoinTokens(ctx context.Context, _ *connect.Request[shoalv1.GetJoinTokensRequest]) (*connect.Response[shoalv1.GetJoinTokensResponse], error) {
	var c *shoalv1.Cluster
	if err := s.read(ctx, func(tx store.ReadTx) (err error) { c, err = clusterObj(tx); return err }); err != nil {
		return nil, storeErr(err)
	}
	return connect.NewResponse(&shoalv1.GetJoinTokensResponse{Tokens: c.GetJoinTokens()}), nil
}

func (s *Server) RotateJoinToken(ctx context.Context, req *connect.Request[shoalv1.RotateJoinTokenRequest]) (*connect.Response[shoalv1.RotateJoinTokenResponse], error) {
	role := req.Msg.GetRole()
	if role != shoalv1.NodeRole_NODE_ROLE_WORKER && role != shoalv1.NodeRole_NODE_ROLE_MANAGER {
		return nil, invalidArg("role: use NODE_ROLE_WORKER or NODE_ROLE_MANAGER")
	}
	var out *shoalv1.JoinTokens
	err := s.store.Update(ctx, func(tx store.Tx) error {
		c, err := clusterObj(tx)
		if err != nil {
			return err
		}
		root, err := ca.ParseRootCA(c.GetRootCa().GetCaCertPem(), nil)
		if err != nil {
			return err
		}
		tok, err := ca.NewJoinToken(root, s.rand)
		if err != nil {
			return err
		}
		if c.JoinTokens == nil {
			c.JoinTokens = &shoalv1.JoinTokens{}
		}
		if role == shoalv1.NodeRole_NODE_ROLE_WORKER {
			c.JoinTokens.Worker = tok.String()
		} else {
			c.JoinTokens.Manager = tok.String()
		}
		out = c.JoinTokens
		return tx.Update(c)
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return connect.NewResponse(&shoalv1.RotateJoinTokenResponse{Tokens: out}), nil
}
