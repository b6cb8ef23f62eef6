package main

import (
	"fmt"
	"slices"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
)

func newClusterCmd() *cobra.Command {
	c := &cobra.Command{Use: "cluster", Short: "Manage the cluster"}
	c.AddCommand(newClusterInspectCmd(), newClusterUpdateCmd())
	return c
}

func newClusterInspectCmd() *cobra.Command {
	c := &cobra.Command{Use: "inspect", Short: "Show the cluster's configuration and Raft status", Args: cobra.NoArgs}
	formatFlag(c, "json")
	return withClient(c, func(cmd *cobra.Command, cl *client.Client, _ []string) error {
		res, err := cl.Control.GetCluster(cmd.Context(), connect.NewRequest(&shoalv1.GetClusterRequest{}))
		if err != nil {
			return err
		}
		return printOneJSON(cmd.OutOrStdout(), res.Msg)
	})
}

// clusterFlags are the cluster settings init sets and cluster update changes.
type clusterFlags struct {
	heartbeat        time.Duration
	snapshotInterval uint64
	certExpiry       time.Duration
	taskHistory      uint32
	addrPool         string
	addrPoolMask     uint32
	autolock         bool
}

var clusterFlagNames = []string{"heartbeat-period", "snapshot-interval", "cert-expiry", "task-history-limit",
	"default-addr-pool", "default-addr-pool-mask-length", "autolock"}

func newClusterUpdateCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "update [--heartbeat-period D] [--snapshot-interval N] [--cert-expiry D] [--task-history-limit N]",
		Short: "Change the cluster's settings (those init sets)",
		Args:  cobra.NoArgs,
	}
	var f clusterFlags
	var rb rebalanceFlags
	fl := c.Flags()
	rb.register(fl, "every service that names none")
	fl.DurationVar(&f.heartbeat, "heartbeat-period", 0, "agent heartbeat period (a node is down after 3 missed); agents take it at their next heartbeat")
	fl.Uint64Var(&f.snapshotInterval, "snapshot-interval", 0, "Raft log entries between snapshots")
	fl.DurationVar(&f.certExpiry, "cert-expiry", 0, "validity of node certificates issued from now on (nodes renew at 50-80% of it)")
	fl.Uint32Var(&f.taskHistory, "task-history-limit", 0, "tasks kept per slot (or per node of a global service), the running one included (0: the default, 5)")
	fl.StringVar(&f.addrPool, "default-addr-pool", "", "address pool (CIDR) of networks created without --subnet (default 10.0.0.0/8)")
	fl.Uint32Var(&f.addrPoolMask, "default-addr-pool-mask-length", 0, "prefix length of the subnets taken from the pool (default 24)")
	fl.BoolVar(&f.autolock, "autolock", false, "encrypt the managers' Raft data at rest under an unlock key (printed once); false: under a key kept on disk")
	return withClient(c, func(cmd *cobra.Command, cl *client.Client, _ []string) error {
		if !slices.ContainsFunc(clusterFlagNames, cmd.Flags().Changed) && !slices.ContainsFunc(rebalanceFlagNames, cmd.Flags().Changed) {
			return fmt.Errorf("nothing to update: give --heartbeat-period, --snapshot-interval, --cert-expiry, --task-history-limit, --default-addr-pool[-mask-length], --autolock or --rebalance[-*]")
		}
		cur, err := cl.Control.GetCluster(cmd.Context(), connect.NewRequest(&shoalv1.GetClusterRequest{}))
		if err != nil {
			return err
		}
		cluster := cur.Msg.GetCluster()
		spec := f.apply(cmd, proto.CloneOf(cluster.GetSpec()))
		if err := rb.apply(cmd.Flags(), &spec.Rebalance, false); err != nil {
			return err
		}
		res, err := cl.Control.UpdateCluster(cmd.Context(), connect.NewRequest(&shoalv1.UpdateClusterRequest{Version: cluster.GetMeta().GetVersion(), Spec: spec}))
		if err != nil {
			return hintOn(err, connect.CodeAborted, "the cluster changed meanwhile: run the command again")
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Cluster %s updated.\n", res.Msg.GetCluster().GetId())
		if f.autolock && !cluster.GetSpec().GetAutolockManagers() {
			return printUnlockKey(cmd, cl, false, false)
		}
		return nil
	})
}

// apply sets the settings whose flags were given on spec.
func (f *clusterFlags) apply(cmd *cobra.Command, spec *shoalv1.ClusterSpec) *shoalv1.ClusterSpec {
	if spec == nil {
		spec = &shoalv1.ClusterSpec{}
	}
	changed := cmd.Flags().Changed
	if changed("heartbeat-period") {
		spec.HeartbeatPeriod = durationpb.New(f.heartbeat)
	}
	if changed("snapshot-interval") {
		spec.SnapshotInterval = f.snapshotInterval
	}
	if changed("cert-expiry") {
		spec.NodeCertExpiry = durationpb.New(f.certExpiry)
	}
	if changed("task-history-limit") {
		spec.TaskHistoryLimit = f.taskHistory
	}
	if changed("default-addr-pool") {
		spec.DefaultAddressPool = f.addrPool
	}
	if changed("default-addr-pool-mask-length") {
		spec.DefaultSubnetSize = f.addrPoolMask
	}
	if changed("autolock") {
		spec.AutolockManagers = f.autolock
	}
	return spec
}
