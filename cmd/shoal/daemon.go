package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-project/shoal/core/netagent"
	"github.com/shoal-project/shoal/core/node"
	"github.com/shoal-project/shoal/internal/memlimit"
	"github.com/shoal-project/shoal/network/wireguard"
)

type daemonFlags struct {
	listenAddr        string
	advertiseAddr     string
	hostname          string
	backend           string
	containerdAddress string
	insecureRegistry  []string
	logLevel          string
	tick              time.Duration
	heartbeat         time.Duration
	certExpiry        time.Duration
	snapshotInterval  uint64
	availability      string
	labels            []string
	gossipPort        int
	autolock          bool
	wgPort            int
	wgRotation        time.Duration
	memoryLimit       string
}

// refusedFlag is a daemon flag a command does not take, and where to turn.
type refusedFlag struct {
	name, instead string
}

// clusterSettings are set at init and kept by the cluster; changing them on
// one node would change nothing.
var clusterSettings = []refusedFlag{
	{"heartbeat-period", "the cluster keeps it (set at init); change it with 'shoal cluster update --heartbeat-period'"},
	{"snapshot-interval", "the cluster keeps it (set at init); change it with 'shoal cluster update --snapshot-interval'"},
	{"cert-expiry", "the cluster keeps it (set at init); change it with 'shoal cluster update --cert-expiry'"},
	{"autolock", "the cluster keeps it (set at init); change it with 'shoal cluster update --autolock'"},
}

// nodeSpecFlags start a node's spec at init or join; later the cluster
// keeps it.
var nodeSpecFlags = []refusedFlag{
	{"availability", "the cluster keeps the node's availability (set at init or join); change it with 'shoal node update --availability'"},
	{"label", "the cluster keeps the node's labels (set at init or join); change them with 'shoal node update --label-add'"},
}

// refuse hides the flags a command does not take and makes it fail,
// naming the flag and where to turn, when one is given.
func refuse(c *cobra.Command, flags ...refusedFlag) {
	for _, f := range flags {
		_ = c.Flags().MarkHidden(f.name)
	}
	c.PreRunE = func(cmd *cobra.Command, _ []string) error {
		for _, f := range flags {
			if cmd.Flags().Changed(f.name) {
				return fmt.Errorf("--%s: %s does not take it: %s", f.name, cmd.CommandPath(), f.instead)
			}
		}
		return nil
	}
}

func addDaemonFlags(c *cobra.Command, f *daemonFlags, withAddrs bool) {
	fl := c.Flags()
	if withAddrs {
		fl.StringVar(&f.listenAddr, "listen-addr", "0.0.0.0:4242", "address the node listens on (host:port)")
		fl.StringVar(&f.advertiseAddr, "advertise-addr", "", "address other nodes reach this one at (default: the listen address, or the outbound IP when it is 0.0.0.0)")
	}
	fl.StringVar(&f.hostname, "hostname", "", "node hostname (default: the machine's)")
	fl.StringVar(&f.backend, "backend", "", "runtime backend: process, containerd or sim (default: the one recorded at init/join, else process)")
	fl.StringVar(&f.containerdAddress, "containerd-address", "", "containerd socket, with --backend containerd (default /run/containerd/containerd.sock, or the one recorded at init/join)")
	fl.StringArrayVar(&f.insecureRegistry, "insecure-registry", nil, "registry host:port that may be reached over plain HTTP (repeatable)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.DurationVar(&f.tick, "raft-tick", 0, "Raft tick interval (default 100ms; election after 10 ticks)")
	fl.DurationVar(&f.heartbeat, "heartbeat-period", 0, "agent heartbeat period set at init (default 5s; a node is down after 3 missed)")
	fl.Uint64Var(&f.snapshotInterval, "snapshot-interval", 0, "Raft log entries between snapshots, set at init (default 10000)")
	fl.DurationVar(&f.certExpiry, "cert-expiry", 0, "validity of node certificates, set at init (default 2160h; nodes renew at 50-80% of it)")
	fl.StringVar(&f.availability, "availability", "active", "the node's availability: active, pause or drain")
	fl.StringArrayVar(&f.labels, "label", nil, "node label key=value (repeatable)")
	fl.IntVar(&f.gossipPort, "gossip-port", node.DefaultGossipPort, "UDP/TCP port of the node's gossip (cluster networks and failure detection), on its advertise address")
	fl.BoolVar(&f.autolock, "autolock", false, "encrypt every manager's Raft data at rest under an unlock key printed once: a restarted manager waits for 'shoal unlock'")
	fl.IntVar(&f.wgPort, "wireguard-port", wireguard.DefaultPort, "UDP port of the node's WireGuard tunnel, which carries encrypted networks")
	fl.DurationVar(&f.wgRotation, "wireguard-key-rotation", netagent.DefaultKeyRotation, "how often the node makes a new WireGuard key")
	fl.StringVar(&f.memoryLimit, "memory-limit", memlimit.Auto, "the process's soft memory limit (Go's GOMEMLIMIT): a size such as 900MiB, none, or auto (GOMEMLIMIT when set, else half the memory of the machine or cgroup)")
}

func (f *daemonFlags) config() (node.Config, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.logLevel)); err != nil {
		return node.Config{}, fmt.Errorf("--log-level %q: use debug, info, warn or error", f.logLevel)
	}
	labels, err := parseKV("label", f.labels)
	if err != nil {
		return node.Config{}, err
	}
	if f.gossipPort < 1 || f.gossipPort > 65535 {
		return node.Config{}, fmt.Errorf("--gossip-port %d: want a port in 1-65535", f.gossipPort)
	}
	if f.wgPort < 1 || f.wgPort > 65535 || f.wgRotation <= 0 {
		return node.Config{}, fmt.Errorf("--wireguard-port %d, --wireguard-key-rotation %v: want a port in 1-65535 and a positive duration", f.wgPort, f.wgRotation)
	}
	return node.Config{
		DataDir:            gf.dataDir,
		ListenAddr:         f.listenAddr,
		AdvertiseAddr:      f.advertiseAddr,
		Hostname:           f.hostname,
		Backend:            f.backend,
		ContainerdAddress:  f.containerdAddress,
		InsecureRegistries: f.insecureRegistry,
		TickInterval:       f.tick,
		HeartbeatPeriod:    f.heartbeat,
		CertExpiry:         f.certExpiry,
		SnapshotInterval:   f.snapshotInterval,
		Availability:       f.availability,
		Labels:             labels,
		GossipPort:         f.gossipPort,
		Autolock:           f.autolock,
		Logger:             slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})),

		WireGuardPort:        f.wgPort,
		WireGuardKeyRotation: f.wgRotation,
	}, nil
}

func daemonCommands() []*cobra.Command {
	return []*cobra.Command{newInitCmd(), newJoinCmd(), newRunCmd()}
}

// daemonCmd is a command that starts a node with start and runs it until
// it stops, after printing what banner says about it.
func daemonCmd(c *cobra.Command, f *daemonFlags, start func(ctx context.Context, cfg node.Config, args []string) (*node.Node, error), banner func(node.Info) string) *cobra.Command {
	c.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := f.config()
		if err != nil {
			return err
		}
		limit, src, err := memlimit.Apply(f.memoryLimit)
		if err != nil {
			return fmt.Errorf("--memory-limit: %w", err)
		}
		cfg.Logger.Info("memory limit", "bytes", limit, "from", src)
		n, err := start(cmd.Context(), cfg, args)
		if err != nil {
			return err
		}
		fmt.Fprint(cmd.OutOrStdout(), banner(n.Info()))
		return n.Wait()
	}
	return c
}

func newInitCmd() *cobra.Command {
	var f daemonFlags
	c := &cobra.Command{Use: "init", Short: "Create a new cluster with this node as its first manager, and run the node", Args: cobra.NoArgs}
	addDaemonFlags(c, &f, true)
	return daemonCmd(c, &f, func(ctx context.Context, cfg node.Config, _ []string) (*node.Node, error) {
		return node.Init(ctx, cfg)
	}, func(info node.Info) string {
		return fmt.Sprintf("Cluster initialized: current node (%s) is now a manager.\n\nTo add a worker to this cluster, run the following command:\n\n    shoal join --token %s %s\n\nTo add a manager, run 'shoal join-token manager' and follow the instructions.\n",
			info.NodeID, info.WorkerToken, info.AdvertiseAddr) + unlockKeyNotice(info.UnlockKey)
	})
}

func newJoinCmd() *cobra.Command {
	var f daemonFlags
	c := &cobra.Command{Use: "join --token TOKEN MANAGER_ADDR", Short: "Join a cluster as a worker or manager (the token says which), and run the node", Args: cobra.ExactArgs(1)}
	addDaemonFlags(c, &f, true)
	refuse(c, clusterSettings...)
	token := c.Flags().String("token", "", "join token (shoal join-token worker|manager on a manager)")
	return daemonCmd(c, &f, func(ctx context.Context, cfg node.Config, args []string) (*node.Node, error) {
		if *token == "" {
			return nil, fmt.Errorf("--token is required: run 'shoal join-token worker' on a manager to get one")
		}
		return node.Join(ctx, cfg, *token, args[0])
	}, func(info node.Info) string {
		return fmt.Sprintf("This node (%s) joined the cluster as a %s.\n", info.NodeID, info.Role)
	})
}

func newRunCmd() *cobra.Command {
	var f daemonFlags
	c := &cobra.Command{Use: "run", Short: "Restart a node from its data dir", Args: cobra.NoArgs}
	addDaemonFlags(c, &f, false)
	refuse(c, append(clusterSettings, nodeSpecFlags...)...)
	return daemonCmd(c, &f, func(ctx context.Context, cfg node.Config, _ []string) (*node.Node, error) {
		return node.Run(ctx, cfg)
	}, func(info node.Info) string {
		return fmt.Sprintf("Node %s running as a %s.\n", info.NodeID, info.Role)
	})
}
