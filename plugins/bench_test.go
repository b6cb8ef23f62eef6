package plugins_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shoal-project/shoal/plugins"
	"github.com/shoal-project/shoal/plugins/policytest"
	"github.com/shoal-project/shoal/sdk/policy/spread"
)

// BenchmarkSpread100kOn2400 places 100,000 tasks on 2,400 nodes with the
// spread policy: natively, through the sandbox process (the production
// path: encode, pipe, decode in the guest, schedule, encode, pipe, decode,
// validate) and in-process with WithCloseOnContextDone. The sandbox run
// also reports the sandbox process's resident memory with spread loaded
// and after the calls.
func BenchmarkSpread100kOn2400(b *testing.B) {
	req := policytest.Uniform(2400, 100_000)
	b.Run("native", func(b *testing.B) {
		for b.Loop() {
			spread.Schedule(req)
		}
	})
	for _, mode := range []struct {
		name      string
		inProcess bool
	}{{"wasm-sandbox", false}, {"wasm-inprocess-closeondone", true}} {
		b.Run(mode.name, func(b *testing.B) {
			h, _ := newHost(b, plugins.HostConfig{InProcess: mode.inProcess, CallTimeout: time.Minute, MaxOutput: 64 << 20})
			sha := load(b, h, plugins.Builtin("spread"))
			loaded := sandboxRSS(b)
			if _, err := h.Schedule(context.Background(), sha, req); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := h.Schedule(context.Background(), sha, req); err != nil {
					b.Fatal(err)
				}
			}
			if !mode.inProcess {
				b.ReportMetric(float64(loaded)/(1<<20), "sandbox-loaded-MiB")
				b.ReportMetric(float64(sandboxRSS(b))/(1<<20), "sandbox-after-MiB")
			}
		})
	}
}

// BenchmarkSpreadWasmVsNative times both in the same iterations and reports
// the ratio of the totals, and the median of the iterations' ratios, which
// a burst of load from other processes moves less.
func BenchmarkSpreadWasmVsNative(b *testing.B) {
	req := policytest.Uniform(2400, 100_000)
	h, _ := newHost(b, plugins.HostConfig{CallTimeout: time.Minute, MaxOutput: 64 << 20})
	sha := load(b, h, plugins.Builtin("spread"))
	if _, err := h.Schedule(context.Background(), sha, req); err != nil {
		b.Fatal(err)
	}
	var native, wasm time.Duration
	var ratios []float64
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		spread.Schedule(req)
		t1 := time.Now()
		if _, err := h.Schedule(context.Background(), sha, req); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		native += t1.Sub(t0)
		wasm += t2.Sub(t1)
		ratios = append(ratios, float64(t2.Sub(t1))/float64(t1.Sub(t0)))
	}
	n := float64(b.N)
	slices.Sort(ratios)
	b.ReportMetric(float64(native.Milliseconds())/n, "native-ms")
	b.ReportMetric(float64(wasm.Milliseconds())/n, "wasm-ms")
	b.ReportMetric(float64(wasm)/float64(native), "wasm/native")
	b.ReportMetric(ratios[len(ratios)/2], "median-wasm/native")
}

// BenchmarkHostStall reports how late a host ticker fires while a guest
// loops in the sandbox until its deadline (with forced GCs).
func BenchmarkHostStall(b *testing.B) {
	h, _ := newHost(b, plugins.HostConfig{CallTimeout: time.Second})
	loop := load(b, h, guest(b, "loop"))
	var p99, worst time.Duration
	for b.Loop() {
		late := measureStall(b, h, loop)
		p99 = max(p99, percentile(late, 0.99))
		worst = max(worst, late[len(late)-1])
	}
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-late-ms")
	b.ReportMetric(float64(worst.Microseconds())/1000, "max-late-ms")
}

// sandboxRSS is the resident memory of this process's plugin sandbox
// children, from /proc/PID/statm.
func sandboxRSS(tb testing.TB) int64 {
	tb.Helper()
	exe := sandbox.Command(tb)
	stats, _ := filepath.Glob("/proc/[0-9]*/statm")
	var sum int64
	for _, statm := range stats {
		dir := filepath.Dir(statm)
		if target, err := os.Readlink(filepath.Join(dir, "exe")); err != nil || target != exe {
			continue
		}
		b, err := os.ReadFile(statm)
		var size, resident int64
		if err == nil {
			_, err = fmt.Sscan(string(b), &size, &resident)
		}
		if err == nil {
			sum += resident * int64(os.Getpagesize())
		}
	}
	return sum
}

// BenchmarkScheduleOneTaskDelta is the policy call of a one-task pass on
// 2,400 nodes that each run tasks of 42 services, in steady state: each
// call changes one row's counters, so the call carries one patch and one
// task. guest-native is the guest's side of that call run natively
// (sdk.HandleSchedule).
func BenchmarkScheduleOneTaskDelta(b *testing.B) {
	req := policytest.Uniform(2400, 1)
	for i := range req.Nodes {
		req.Nodes[i].ServiceTasks = map[string]uint32{}
		for s := range 42 {
			req.Nodes[i].ServiceTasks[fmt.Sprintf("svc%03d", (i+s)%100)] = 1
		}
	}
	b.Run("native-spread", func(b *testing.B) {
		for b.Loop() {
			spread.Schedule(req)
		}
	})
	b.Run("wasm-sandbox", func(b *testing.B) {
		h, _ := newHost(b, plugins.HostConfig{CallTimeout: time.Minute})
		sha := load(b, h, plugins.Builtin("spread"))
		if _, err := h.Schedule(context.Background(), sha, req); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			req.Nodes[5].TaskCount++
			if _, err := h.Schedule(context.Background(), sha, req); err != nil {
				b.Fatal(err)
			}
		}
		if st := h.ScheduleCalls(); st.Full != 1 {
			b.Fatalf("calls %+v: want one full call", st)
		}
	})
}
