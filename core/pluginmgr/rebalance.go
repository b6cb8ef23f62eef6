package pluginmgr

import (
	"context"
	"time"

	"github.com/shoal-project/shoal/core/rebalancer"
	"github.com/shoal-project/shoal/plugins"
	"github.com/shoal-project/shoal/sdk"
)

// wasmRebalancer runs a rebalancer plugin and counts its outcome.
type wasmRebalancer struct {
	m    *Manager
	name string
	sha  string
	wasm []byte
}

func (w wasmRebalancer) Rebalance(ctx context.Context, req *sdk.RebalanceRequest) (*sdk.RebalanceResponse, error) {
	resp, err := w.call(ctx, req)
	w.m.record(w.name, err)
	return resp, err
}

func (w wasmRebalancer) call(ctx context.Context, req *sdk.RebalanceRequest) (*sdk.RebalanceResponse, error) {
	if err := w.m.ensureLoaded(ctx, w.sha, w.wasm); err != nil {
		return nil, err
	}
	return w.m.host.Rebalance(ctx, w.sha, req)
}

// Rebalancer implements rebalancer.Source: name is a built-in or installed
// rebalancer plugin.
func (m *Manager) Rebalancer(name string) (rebalancer.Policy, error) {
	sha, wasm, err := m.module(name, plugins.KindRebalancer)
	if err != nil {
		return nil, err
	}
	return wasmRebalancer{m: m, name: name, sha: sha, wasm: wasm}, nil
}

// probeRebalancer runs a module in the probe sandbox: dry runs never hold
// up live work.
type probeRebalancer struct {
	m    *Manager
	sha  string
	took *time.Duration
}

func (p probeRebalancer) Rebalance(ctx context.Context, req *sdk.RebalanceRequest) (*sdk.RebalanceResponse, error) {
	start := time.Now()
	resp, err := p.m.probe.Rebalance(ctx, p.sha, req)
	*p.took = time.Since(start)
	return resp, err
}

// RebalanceDryRun asks rebalancer module wasm which moves it would make for
// the service in s now, validated as a live pass would; nothing is written.
func (m *Manager) RebalanceDryRun(ctx context.Context, wasm []byte, s *rebalancer.State) ([]rebalancer.Move, time.Duration, error) {
	var moves []rebalancer.Move
	var took time.Duration
	err := m.withProbe(ctx, wasm, func(sha string) (err error) {
		moves, err = rebalancer.DryRun(ctx, probeRebalancer{m: m, sha: sha, took: &took}, s)
		return err
	})
	return moves, took, err
}
