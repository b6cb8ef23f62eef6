package pluginmgr

import (
	"context"
	"time"

	"github.com/shoal-project/shoal/core/scheduler"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/plugins"
	"github.com/shoal-project/shoal/sdk"
)

// DryRun asks the scheduler module wasm where it would place the tasks of
// spec (or, with a nil spec, the cluster's pending tasks) on the cluster as
// it is now, and why tasks would stay unschedulable. Nothing is written.
func (m *Manager) DryRun(ctx context.Context, wasm []byte, spec *shoalv1.ServiceSpec) (*shoalv1.TestPluginResponse, error) {
	var req *sdk.ScheduleRequest
	var labels []string
	err := m.st.View(func(tx store.ReadTx) (err error) {
		req, labels, err = scheduler.DryRunRequest(tx, spec)
		return err
	})
	if err != nil {
		return nil, err
	}
	var resp *sdk.ScheduleResponse
	var took time.Duration
	err = m.withProbe(ctx, wasm, func(sha string) (err error) {
		start := time.Now()
		resp, err = m.probe.Schedule(ctx, sha, req)
		took = time.Since(start)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &shoalv1.TestPluginResponse{Duration: took.Round(time.Microsecond).String()}
	i := 0
	for gi := range resp.Groups {
		g := &resp.Groups[gi]
		for _, p := range g.Placements {
			tp := &shoalv1.TestPlacement{}
			if i < len(labels) {
				tp.Task = labels[i]
			}
			if p == sdk.Unschedulable {
				tp.Reason = g.Message()
			} else {
				tp.NodeId, tp.NodeHostname = req.Nodes[p].ID, req.Nodes[p].Hostname
			}
			out.Placements = append(out.Placements, tp)
			i++
		}
	}
	return out, nil
}

// withProbe loads module wasm into the probe sandbox (dry runs never hold
// up live work), runs fn with its digest and unloads it.
func (m *Manager) withProbe(ctx context.Context, wasm []byte, fn func(sha string) error) error {
	sha := plugins.Digest(wasm)
	lctx, cancel := context.WithTimeout(ctx, ProbeLoadTimeout)
	defer cancel()
	if err := m.probe.Load(lctx, sha, wasm); err != nil {
		return err
	}
	defer m.probe.Unload(context.WithoutCancel(ctx), sha)
	return fn(sha)
}
