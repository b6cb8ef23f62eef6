package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/plugins"
	"github.com/shoal-project/shoal/plugins/sandboxtest"
	"github.com/shoal-project/shoal/sdk"
)

// wasmSource serves every policy name with one scheduler plugin through a
// plugins.Host (the sandbox process), timing the calls.
type wasmSource struct {
	h    *plugins.Host
	sha  string
	took time.Duration
}

func (w *wasmSource) Policy(string) (Policy, error) { return w, nil }

func (w *wasmSource) Schedule(ctx context.Context, req *sdk.ScheduleRequest) (*sdk.ScheduleResponse, error) {
	t0 := time.Now()
	resp, err := w.h.Schedule(ctx, w.sha, req)
	w.took += time.Since(t0)
	return resp, err
}

// nativeTimed is the native spread, timed.
type nativeTimed struct{ took time.Duration }

func (n *nativeTimed) Policy(string) (Policy, error) { return n, nil }

func (n *nativeTimed) Schedule(ctx context.Context, req *sdk.ScheduleRequest) (*sdk.ScheduleResponse, error) {
	t0 := time.Now()
	p, _ := Native(PolicySpread)
	resp, err := p.Schedule(ctx, req)
	n.took += time.Since(t0)
	return resp, err
}

// BenchmarkOneTaskPass2400Nodes100kTasks is a scheduling pass that places
// one new task on a cluster of 2,400 nodes running 100,000 tasks, in steady
// state (after the pass that placed the 100,000, which gave a Wasm guest
// the whole node table): through the real scheduler (store read, node
// table, groups, policy call, validation, commit) with the native spread
// and with the built-in spread guest in the plugin sandbox. policy-ms is
// the policy call alone (for the Wasm guest: diff, encode, pipe, guest,
// decode, validate).
//
// Nothing is warmed or collected before the timed loop beyond the two
// passes that put the cluster in steady state. A run of 200 passes is a
// fraction of a garbage collection cycle of this 100-200 MB heap, and a
// cycle that starts in it adds its cost to that run alone: that made the
// first of two runs ~2x the second (BENCHMARKS.md, "Garbage per one-task
// pass"). B/op is what a pass adds towards the next cycle, the cost a
// running manager pays on average.
func BenchmarkOneTaskPass2400Nodes100kTasks(b *testing.B) {
	for _, mode := range []string{"native", "wasm-sandbox"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			var took *time.Duration
			var src PolicySource
			var host *plugins.Host
			if mode == "native" {
				n := &nativeTimed{}
				src, took = n, &n.took
			} else {
				exe, err := sandboxtest.Build(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				host, err = plugins.NewHost(plugins.HostConfig{SandboxCommand: exe, CacheDir: b.TempDir(),
					CallTimeout: time.Minute, MaxOutput: 64 << 20}, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { host.Close() })
				wasm := plugins.Builtin("spread")
				sha := plugins.Digest(wasm)
				if err := host.Load(context.Background(), sha, wasm); err != nil {
					b.Fatal(err)
				}
				w := &wasmSource{h: host, sha: sha}
				src, took = w, &w.took
			}
			h := benchCluster(b, 2400, 100_000)
			h.s.src = src
			if st := h.pass(); st.Assigned != 100_000 {
				b.Fatalf("first pass assigned %d", st.Assigned)
			}
			var svc *shoalv1.Service
			_ = h.st.View(func(tx store.ReadTx) error { svc = tx.GetService("svc000"); return nil })
			// One more pass: its delta carries the counters of the
			// 100,000 placements (the guest's table predates them).
			h.addTasks(svc, 1, "")
			h.pass()
			*took = 0
			var before plugins.ScheduleCallStats
			if host != nil {
				before = host.ScheduleCalls()
			}
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				h.addTasks(svc, 1, "")
				b.StartTimer()
				if st := h.pass(); st.Assigned != 1 || st.Fallbacks != 0 {
					b.Fatalf("pass: %+v", st)
				}
			}
			b.ReportMetric(float64(took.Microseconds())/1000/float64(b.N), "policy-ms")
			if host != nil {
				after := host.ScheduleCalls()
				b.ReportMetric(float64(after.Delta-before.Delta)/float64(b.N), "delta-calls/op")
			}
		})
	}
}
