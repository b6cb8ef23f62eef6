package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/agent"
	"github.com/shoal-project/shoal/core/ca"
	"github.com/shoal-project/shoal/core/node"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/internal/httpclient"
	"github.com/shoal-project/shoal/runtime/sim"
)

// simResources is what every simulated node offers.
var simResources = &shoalv1.Resources{NanoCpus: 16e9, MemoryBytes: 64 << 30}

// identity is a joined worker: its node ID and key pair.
type identity struct {
	hostname string
	nodeID   string
	cert     tls.Certificate
}

func simDescription(hostname string) *shoalv1.NodeDescription {
	return &shoalv1.NodeDescription{
		Hostname: hostname, Os: runtime.GOOS, Arch: runtime.GOARCH,
		Resources: simResources, Backend: "sim",
	}
}

// joinWorkers obtains n worker certificates through the real join path:
// the root is fetched and checked against the token's digest once, then
// each node sends its own CSR to CAService.IssueNodeCertificate (one Raft
// write per node), concurrency at a time, spread over the managers.
func joinWorkers(ctx context.Context, managers []string, token string, n, concurrency int) (*ca.RootCA, []identity, error) {
	root, err := node.FetchRoot(ctx, token, managers[0])
	if err != nil {
		return nil, nil, fmt.Errorf("fetch root: %w", err)
	}
	// One anonymous TLS client per manager, shared by all joins: a real
	// joining node would dial its own, but the handshake cost is not what
	// this phase measures.
	cas := make([]shoalv1connect.CAServiceClient, len(managers))
	for i, m := range managers {
		cas[i] = shoalv1connect.NewCAServiceClient(httpclient.TLS(ca.ClientTLSConfig(root, nil, "")), "https://"+m, connect.WithGRPC())
	}
	out := make([]identity, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, max(1, concurrency))
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return nil, nil, ctx.Err()
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			id, err := joinOne(ctx, cas[i%len(cas)], token, fmt.Sprintf("sim-%04d", i))
			if err != nil {
				errs <- fmt.Errorf("join sim-%04d: %w", i, err)
				return
			}
			out[i] = id
		}(i)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, nil, err
	}
	return root, out, nil
}

func joinOne(ctx context.Context, c shoalv1connect.CAServiceClient, token, hostname string) (identity, error) {
	keyPEM, csr, err := ca.NewKeyAndCSR()
	if err != nil {
		return identity{}, err
	}
	var res *connect.Response[shoalv1.IssueNodeCertificateResponse]
	for attempt := 0; ; attempt++ {
		res, err = c.IssueNodeCertificate(ctx, connect.NewRequest(&shoalv1.IssueNodeCertificateRequest{
			Token: token, Csr: csr, Hostname: hostname, Description: simDescription(hostname),
		}))
		// A forwarded write can fail while the cluster is busy; retry a
		// few times like an operator would.
		if err == nil || attempt >= 4 || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	if err != nil {
		return identity{}, err
	}
	if res.Msg.GetRole() != shoalv1.NodeRole_NODE_ROLE_WORKER {
		return identity{}, fmt.Errorf("got role %v, want worker", res.Msg.GetRole())
	}
	cert, err := ca.KeyPair(res.Msg.GetCertificate(), keyPEM)
	if err != nil {
		return identity{}, err
	}
	return identity{hostname: hostname, nodeID: res.Msg.GetNodeId(), cert: cert}, nil
}

// fleet is the running simulated agents.
type fleet struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	backends []*sim.Backend
	clients  []*http.Client
}

// startAgents runs one agent per identity, each with its own mTLS HTTP/2
// client (so its own connection) and its own sim backend. Node i's tasks
// take i % (maxStart+1ms) to start, spreading start latencies over
// [0, maxStart].
func startAgents(ctx context.Context, root *ca.RootCA, ids []identity, managers []string, maxStart time.Duration, log *slog.Logger) (*fleet, error) {
	ctx, cancel := context.WithCancel(ctx)
	f := &fleet{cancel: cancel}
	steps := int64(maxStart/time.Millisecond) + 1
	for i, id := range ids {
		b, err := sim.New(sim.Config{StartLatency: time.Duration(int64(i)%steps) * time.Millisecond})
		if err != nil {
			f.stop()
			return nil, err
		}
		cert := id.cert
		hc := httpclient.TLS(ca.ClientTLSConfig(root, &cert, ""))
		ag, err := agent.New(agent.Config{
			NodeID:   id.nodeID,
			Managers: managers,
			Client: func(addr string) shoalv1connect.DispatcherServiceClient {
				return shoalv1connect.NewDispatcherServiceClient(hc, "https://"+addr, connect.WithGRPC())
			},
			Backend:     b,
			Description: simDescription(id.hostname),
			Logger:      log.With("sim", id.hostname),
		})
		if err != nil {
			_ = b.Close()
			f.stop()
			return nil, fmt.Errorf("agent %s: %w", id.hostname, err)
		}
		f.backends = append(f.backends, b)
		f.clients = append(f.clients, hc)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			if err := ag.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("agent stopped", "sim", id.hostname, "err", err)
			}
		}()
	}
	return f, nil
}

func (f *fleet) stop() {
	f.cancel()
	f.wg.Wait()
	for _, b := range f.backends {
		_ = b.Close()
	}
	for _, hc := range f.clients {
		hc.CloseIdleConnections()
	}
}

// simTasks is how many tasks the sim backends hold in all.
func (f *fleet) simTasks() int {
	n := 0
	for _, b := range f.backends {
		n += b.Len()
	}
	return n
}
