package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/agent"
	"github.com/shoal-project/shoal/core/ca"
	"github.com/shoal-project/shoal/core/netagent"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/internal/httpclient"
	"github.com/shoal-project/shoal/runtime"
	"github.com/shoal-project/shoal/runtime/containerd"
	"github.com/shoal-project/shoal/runtime/process"
	"github.com/shoal-project/shoal/runtime/sim"
)

// DefaultContainerdAddress is containerd's usual socket.
const DefaultContainerdAddress = "/run/containerd/containerd.sock"

// newBackend opens the node's runtime backend.
func newBackend(ctx context.Context, cfg Config, nodeID, name string, hook runtime.NetworkHook) (runtime.Backend, error) {
	log := cfg.Logger.With("component", "runtime", "backend", name)
	switch name {
	case "", "process":
		return process.New(filepath.Join(cfg.DataDir, "process"), log)
	case "sim":
		return sim.New(sim.Config{StartLatency: 50 * time.Millisecond, Logger: log})
	case "containerd":
		addr := cfg.ContainerdAddress
		if addr == "" {
			addr = DefaultContainerdAddress
		}
		return containerd.New(ctx, containerd.Config{
			Address: addr, Namespace: containerd.NodeNamespace(nodeID),
			StateDir: filepath.Join(cfg.DataDir, "containerd"), InsecureRegistries: cfg.InsecureRegistries,
			NetworkHook: hook,
		}, log)
	}
	return nil, fmt.Errorf("--backend %q: use process, containerd or sim", name)
}

// agentRunner is a running agent and its backend.
type agentRunner struct {
	cancel  context.CancelFunc
	done    chan struct{}
	backend runtime.Backend
	net     *netagent.Node  // nil without cluster networks
	gossip  *livenessMember // the gossip member without cluster networks (nil with them)
}

func (a *agentRunner) Stop() {
	a.cancel()
	<-a.done
	_ = a.backend.Close()
	if a.net != nil {
		_ = a.net.Close()
	}
	if a.gossip != nil {
		_ = a.gossip.Close()
	}
}

// restartAgent (re)starts the node's agent with the current certificate and
// manager list.
func (n *Node) restartAgent() error {
	n.mu.Lock()
	old := n.agent
	n.agent = nil
	n.mu.Unlock()
	if old != nil {
		old.Stop()
	}
	if n.ctx.Err() != nil {
		return n.ctx.Err()
	}
	backend, netNode, gossipAddr, err := n.openRuntime()
	if err != nil {
		return err
	}
	var lm *livenessMember
	if netNode == nil {
		lm, gossipAddr = n.newLivenessMember()
	}
	desc := n.cfg.description(n.st.Backend)
	desc.GossipAddr = gossipAddr
	if netNode != nil {
		desc.WireguardEndpoint = netNode.WireGuardEndpoint()
	}
	n.mu.Lock()
	managers := append([]string(nil), n.st.Managers...)
	if n.mgr != nil {
		managers = append([]string{n.st.AdvertiseAddr}, managers...)
	}
	n.mu.Unlock()
	conf := ca.ClientTLSConfigFromHolder(n.trust, n.certs, "")
	hc := httpclient.TLS(conf)
	ag, err := agent.New(agent.Config{
		NodeID:   n.st.NodeID,
		Managers: managers,
		Client: func(addr string) shoalv1connect.DispatcherServiceClient {
			return shoalv1connect.NewDispatcherServiceClient(hc, "https://"+addr, connect.WithGRPC())
		},
		Backend:     backend,
		StateDir:    filepath.Join(n.cfg.DataDir, "agent"),
		Description: desc,
		Network:     agentNetwork(netNode),
		Gossip:      agentGossip(lm),
		Version:     Version,
		Logger:      n.log.With("component", "agent"),
		OnManagers:  n.rememberManagers,
		TaskStarted: n.metrics.taskStarted,
	})
	ctx, cancel := context.WithCancel(n.ctx)
	r := &agentRunner{cancel: cancel, done: make(chan struct{}), backend: backend, net: netNode, gossip: lm}
	if err != nil {
		close(r.done)
		r.Stop()
		return fmt.Errorf("agent: %w", err)
	}
	go func() {
		defer close(r.done)
		err := ag.Run(ctx)
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, agent.ErrNodeRemoved):
			n.leave(backend, netNode)
		case err != nil:
			n.log.Error("agent stopped", "err", err)
		}
	}()
	n.mu.Lock()
	n.agent = r
	n.mu.Unlock()
	return nil
}

// openRuntime opens the node's backend and, when the node can have them,
// its cluster networks (the backend's network hook; nil otherwise).
func (n *Node) openRuntime() (runtime.Backend, *netagent.Node, string, error) {
	netNode, gossipAddr, err := n.newClusterNetwork()
	if err != nil {
		n.log.Info("no cluster networks on this node", "reason", err)
	}
	var hook runtime.NetworkHook
	if netNode != nil {
		hook = netNode
	}
	backend, err := n.openBackend(hook)
	if err != nil {
		if netNode != nil {
			_ = netNode.Close()
		}
		return nil, nil, "", fmt.Errorf("runtime backend %s: %w", n.st.Backend, err)
	}
	return backend, netNode, gossipAddr, nil
}

// agentNetwork is the agent's view of the node's cluster networks; a nil
// interface (not a nil pointer) without them.
func agentNetwork(nn *netagent.Node) agent.Network {
	if nn == nil {
		return nil
	}
	return nn
}

func (n *Node) openBackend(hook runtime.NetworkHook) (runtime.Backend, error) {
	ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
	defer cancel()
	return newBackend(ctx, n.cfg, n.st.NodeID, n.st.Backend, hook)
}

// rememberManagers records the managers a session reported, so a restarted
// node (and a worker whose first manager died) can reach the others.
func (n *Node) rememberManagers(addrs []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.st.Managers = addrs
	if err := n.st.save(n.cfg.DataDir); err != nil {
		n.log.Warn("save the manager list", "err", err)
	}
}

// teardowner is a backend with node-wide resources (containerd's bridge
// and its NAT rules) to delete when the node leaves the cluster.
type teardowner interface {
	Teardown(ctx context.Context) error
}

// leave ends a worker that was removed from the cluster (its agent removed
// every task): it leaves the routing mesh, deletes the backend's node-wide resources, records the
// removal so 'shoal run' refuses the data dir, and stops the node with
// ErrRemoved. A manager is left alone: its removal from the Raft group is
// handled by watchRemoved.
func (n *Node) leave(backend runtime.Backend, netNode *netagent.Node) {
	n.mu.Lock()
	isManager := n.mgr != nil
	n.mu.Unlock()
	if isManager {
		n.log.Warn("the cluster removed this node while it runs a manager; its tasks were removed")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if netNode != nil {
		if err := netNode.LeaveMesh(ctx); err != nil {
			n.log.Warn("leave the routing mesh after removal", "err", err)
		}
	}
	if td, ok := backend.(teardowner); ok {
		if err := td.Teardown(ctx); err != nil {
			n.log.Warn("runtime teardown after removal", "err", err)
		}
	}
	n.mu.Lock()
	n.st.Removed = true
	err := n.st.save(n.cfg.DataDir)
	n.err = n.removedError()
	n.mu.Unlock()
	if err != nil {
		n.log.Warn("record the removal in the node state", "err", err)
	}
	n.log.Warn("this node was removed from the cluster and left it", "node", n.st.NodeID)
	n.cancel()
}
