package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/node"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
)

// errNoLeader is returned when no manager leads within the wait.
var errNoLeader = errors.New("scale: no manager became leader")

// cluster is the managers of the benchmark.
type cluster struct {
	nodes []*node.Node
	dirs  []string
}

func (c *cluster) stop() {
	for i := len(c.nodes) - 1; i >= 0; i-- {
		c.nodes[i].Stop()
	}
}

// addrs returns the managers' advertise addresses, leader first.
func (c *cluster) addrs(leader *node.Node) []string {
	out := []string{leader.Info().AdvertiseAddr}
	for _, n := range c.nodes {
		if n != leader {
			out = append(out, n.Info().AdvertiseAddr)
		}
	}
	return out
}

// proposals returns the proposals made by all managers and the highest
// applied Raft index.
func (c *cluster) proposals() (proposals, applied uint64) {
	for _, n := range c.nodes {
		st := n.Manager().Store()
		proposals += st.ProposalCount()
		applied = max(applied, st.AppliedIndex())
	}
	return proposals, applied
}

// leader returns the current leader, waiting up to d for one.
func (c *cluster) leader(ctx context.Context, d time.Duration) (*node.Node, int, error) {
	deadline := time.Now().Add(d)
	for {
		for i, n := range c.nodes {
			if m := n.Manager(); m != nil && m.Raft().IsLeader() {
				return n, i, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, -1, errNoLeader
		}
		select {
		case <-ctx.Done():
			return nil, -1, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startCluster starts managers managers in base: the first with node.Init,
// the rest with node.Join and the manager token, as 'shoal join' does.
func startCluster(ctx context.Context, base string, managers int, heartbeat, tick time.Duration, log *slog.Logger) (*cluster, error) {
	c := &cluster{}
	for i := 0; i < managers; i++ {
		addr, err := freeAddr()
		if err != nil {
			c.stop()
			return nil, err
		}
		dir := filepath.Join(base, fmt.Sprintf("m%d", i))
		cfg := node.Config{
			DataDir: dir, ListenAddr: addr, Hostname: fmt.Sprintf("manager-%d", i),
			Backend: "sim", HeartbeatPeriod: heartbeat, TickInterval: tick, Availability: "drain",
			Logger: log.With("manager", i),
		}
		var n *node.Node
		if i == 0 {
			n, err = node.Init(ctx, cfg)
		} else {
			var token string
			token, err = joinToken(ctx, c.dirs[0], false)
			if err == nil {
				n, err = node.Join(ctx, cfg, token, c.nodes[0].Info().AdvertiseAddr)
			}
		}
		if err != nil {
			c.stop()
			return nil, fmt.Errorf("manager %d: %w", i, err)
		}
		c.nodes = append(c.nodes, n)
		c.dirs = append(c.dirs, dir)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok := true
		for _, n := range c.nodes {
			if len(n.Manager().Raft().Members()) != managers {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, errors.New("scale: managers did not all see each other within 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c, nil
}

// joinToken reads a join token through the admin socket in dir.
func joinToken(ctx context.Context, dir string, worker bool) (string, error) {
	cl, err := client.New(client.Options{DataDir: dir})
	if err != nil {
		return "", err
	}
	res, err := cl.Control.GetJoinTokens(ctx, connect.NewRequest(&shoalv1.GetJoinTokensRequest{}))
	if err != nil {
		return "", err
	}
	if worker {
		return res.Msg.GetTokens().GetWorker(), nil
	}
	return res.Msg.GetTokens().GetManager(), nil
}
