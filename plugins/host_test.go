package plugins_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-project/shoal/internal/syncbuf"
	"github.com/shoal-project/shoal/plugins"
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/binpack"
	"github.com/shoal-project/shoal/sdk/policy/ipam"
	"github.com/shoal-project/shoal/sdk/policy/spread"
)

// syncBuffer collects the host's log.
type syncBuffer = syncbuf.Buffer

func newHost(t testing.TB, cfg plugins.HostConfig) (*plugins.Host, *syncBuffer) {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = cacheDir()
	}
	if cfg.SandboxCommand == "" && !cfg.InProcess {
		cfg.SandboxCommand = sandbox.Command(t)
	}
	logs := &syncBuffer{}
	h, err := plugins.NewHost(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, logs
}

func load(t testing.TB, h *plugins.Host, wasm []byte) string {
	t.Helper()
	sha := plugins.Digest(wasm)
	if err := h.Load(context.Background(), sha, wasm); err != nil {
		t.Fatal(err)
	}
	return sha
}

// cluster is a small node table with one node of each kind of trouble.
func cluster() *sdk.ScheduleRequest {
	node := func(id string) sdk.Node {
		return sdk.Node{ID: id, Hostname: id, Ready: true, Kinds: []string{"container"},
			TotalNanoCPUs: 4e9, FreeNanoCPUs: 4e9, TotalMemoryBytes: 8 << 30, FreeMemoryBytes: 8 << 30,
			Labels: map[string]string{"zone": "a"}}
	}
	ok1, ok2, down, full, drained, mgr := node("ok1"), node("ok2"), node("down"), node("full"), node("drained"), node("mgr")
	down.Ready = false
	full.FreeMemoryBytes = 0
	drained.Availability = sdk.AvailabilityDrain
	mgr.Role = sdk.RoleManager
	ok2.Labels["zone"] = "b"
	return &sdk.ScheduleRequest{
		Nodes: []sdk.Node{ok1, ok2, down, full, drained, mgr},
		Groups: []sdk.TaskGroup{{ServiceID: "web", SpecVersion: 1, Count: 5, Kind: "container",
			Constraints: []string{"node.role!=manager"}, MemoryBytes: 1 << 30, Preferences: []string{"node.labels.zone"}}},
	}
}

func TestBuiltinsMatchNative(t *testing.T) {
	h, _ := newHost(t, plugins.HostConfig{})
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		native func(*sdk.ScheduleRequest) *sdk.ScheduleResponse
	}{{"spread", spread.Schedule}, {"binpack", binpack.Schedule}} {
		t.Run(tc.name, func(t *testing.T) {
			sha := load(t, h, plugins.Builtin(tc.name))
			req := cluster()
			req.Groups = append(req.Groups, sdk.TaskGroup{ServiceID: "db", Count: 20, MemoryBytes: 4 << 30})
			got, err := h.Schedule(ctx, sha, req)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.native(req), got); d != "" {
				t.Fatalf("wasm differs from native (-native +wasm):\n%s", d)
			}
			if msg := got.Groups[1].Message(); !strings.Contains(msg, "no suitable node:") {
				t.Fatalf("explanation %q", msg)
			}
		})
	}
	t.Run("ipam", func(t *testing.T) {
		sha := load(t, h, plugins.Builtin("ipam"))
		req := &sdk.AllocateRequest{
			Networks:  []sdk.Network{{ID: "n", Subnet: "10.0.0.0/24", Gateway: "10.0.0.1", Allocated: []string{"10.0.0.2"}}},
			Addresses: []sdk.AddressRequest{{ID: "t1", NetworkID: "n"}, {ID: "svc", NetworkID: "n"}},
			Ports:     []sdk.PortRequest{{ID: "p", Protocol: "tcp"}},
			UsedPorts: []sdk.UsedPort{{Protocol: "tcp", Port: 30000}},
		}
		got, err := h.Allocate(ctx, sha, req)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(ipam.Allocate(req), got); d != "" {
			t.Fatalf("wasm differs from native:\n%s", d)
		}
		if got.Addresses[0].Address != "10.0.0.3/24" || got.Ports[0].Port != 30001 {
			t.Fatalf("got %+v", got)
		}
	})
}

func TestValidate(t *testing.T) {
	h, _ := newHost(t, plugins.HostConfig{})
	ctx := context.Background()
	for _, name := range plugins.BuiltinNames() {
		kind, _ := plugins.BuiltinKind(name)
		info, err := h.Validate(ctx, plugins.Builtin(name), kind)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if info.ABIVersion != 1 || info.SHA256 != plugins.Digest(plugins.Builtin(name)) {
			t.Fatalf("%s: info %+v", name, info)
		}
	}
	tests := []struct {
		name string
		wasm []byte
		kind plugins.Kind
		want error
		msg  string
	}{
		{"spread as allocator", plugins.Builtin("spread"), plugins.KindAllocator, plugins.ErrCapability, "do not include allocator"},
		{"ipam as scheduler", plugins.Builtin("ipam"), plugins.KindScheduler, plugins.ErrCapability, "do not include scheduler"},
		{"wrong ABI version", guest(t, "abiv2"), plugins.KindScheduler, plugins.ErrABIVersion, "plugin exports ABI version 2; this manager speaks 1"},
		{"missing export", guest(t, "noexport"), plugins.KindScheduler, plugins.ErrMissingExport, "missing export shoal_schedule"},
		{"not wasm", []byte("#!/bin/sh\necho hi\n"), plugins.KindScheduler, plugins.ErrInvalidModule, ""},
		{"empty", nil, plugins.KindScheduler, plugins.ErrInvalidModule, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.Validate(ctx, tt.wasm, tt.kind)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

func TestValidateLoopingInit(t *testing.T) {
	h, _ := newHost(t, plugins.HostConfig{LoadTimeout: 5 * time.Second})
	wasm := guest(t, "loopinit")
	start := time.Now()
	_, err := h.Validate(context.Background(), wasm, plugins.KindScheduler)
	if !errors.Is(err, plugins.ErrTimeout) {
		t.Fatalf("got %v", err)
	}
	t.Logf("looping init stopped after %v", time.Since(start))
	// The host still works.
	if _, err := h.Validate(context.Background(), plugins.Builtin("spread"), plugins.KindScheduler); err != nil {
		t.Fatal(err)
	}
}

// TestHostileGuests runs each hostile guest, checks the typed error, and
// then checks the host still serves the built-in spread correctly.
func TestHostileGuests(t *testing.T) {
	reg := prometheus.NewRegistry()
	// A generous deadline: under -race on a busy machine the alloc guest can
	// take seconds to reach its memory limit. The loop guest gets a short
	// context deadline instead.
	h, logs := newHost(t, plugins.HostConfig{CallTimeout: 20 * time.Second, MaxOutput: 1 << 20, MemoryLimitPages: 1024, Registerer: reg})
	ctx := context.Background()
	good := load(t, h, plugins.Builtin("spread"))
	tests := []struct {
		guest   string
		service string // group service ID, steers the badnode guest
		want    error
		detail  string
	}{
		{"loop", "web", plugins.ErrTimeout, ""},
		{"alloc", "web", plugins.ErrTrap, ""},
		{"panic", "web", plugins.ErrPluginFailed, "panic: hostile panic"},
		{"exit", "web", plugins.ErrTrap, "exit_code(3)"},
		{"badnode", "nonexistent", plugins.ErrInvalidAnswer, "out of range"},
		{"badnode", "down", plugins.ErrInvalidAnswer, "node not ready"},
		{"badnode", "full", plugins.ErrInvalidAnswer, "not enough memory"},
		{"badnode", "drained", plugins.ErrInvalidAnswer, "node drained"},
		{"badnode", "constraint", plugins.ErrInvalidAnswer, "constraints not satisfied"},
		{"wronglen", "web", plugins.ErrInvalidAnswer, "4 placements for 5 tasks"},
		{"oversize", "web", plugins.ErrOutputTooLarge, ""},
		{"passwd", "web", plugins.ErrPluginFailed, "denied: open /etc/passwd"},
		{"garbage", "web", plugins.ErrInvalidAnswer, "decode"},
	}
	failures := 0
	for _, tt := range tests {
		t.Run(tt.guest+"/"+tt.service, func(t *testing.T) {
			sha := load(t, h, guest(t, tt.guest))
			req := cluster()
			req.Groups[0].ServiceID = tt.service
			for attempt := 0; attempt < 2; attempt++ {
				callCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
				if tt.guest == "loop" {
					callCtx, cancel = context.WithTimeout(ctx, 2*time.Second)
				}
				_, err := h.Schedule(callCtx, sha, req)
				cancel()
				failures++
				var ce *plugins.CallError
				if !errors.As(err, &ce) || !errors.Is(err, tt.want) {
					t.Fatalf("attempt %d: got %v, want %v", attempt, err, tt.want)
				}
				if !strings.Contains(err.Error(), tt.detail) {
					t.Fatalf("error %q does not mention %q", err, tt.detail)
				}
				if strings.Contains(err.Error(), "LEAKED") || strings.Contains(err.Error(), "root:") {
					t.Fatalf("guest read host files: %v", err)
				}
				// The host still answers correctly.
				resp, err := h.Schedule(ctx, good, cluster())
				if err != nil {
					t.Fatalf("next call after %s: %v", tt.guest, err)
				}
				if d := cmp.Diff(spread.Schedule(cluster()), resp); d != "" {
					t.Fatalf("next call after %s differs:\n%s", tt.guest, d)
				}
			}
		})
	}
	// Pointer outside guest memory: the garbage guest does that for an
	// empty request.
	sha := load(t, h, guest(t, "garbage"))
	if _, err := h.Schedule(ctx, sha, &sdk.ScheduleRequest{}); !errors.Is(err, plugins.ErrInvalidAnswer) || !strings.Contains(err.Error(), "outside guest memory") {
		t.Fatalf("got %v", err)
	}
	failures++
	if got := counterSum(t, reg, "shoal_plugin_failures_total"); int(got) != failures {
		t.Fatalf("failure counter %v, want %d", got, failures)
	}
	if !strings.Contains(logs.String(), "hostile guest about to panic") {
		t.Fatalf("guest stdout not logged:\n%s", logs.String())
	}
}

// TestDefaultSandboxIsThisBinary: without SandboxCommand the host runs its
// own executable (here the test binary, through TestMain) as the sandbox,
// as the shoal binary does in production. Only modules that fail before
// compiling go there: this binary may be race-instrumented (see sandboxtest).
func TestDefaultSandboxIsThisBinary(t *testing.T) {
	logs := &syncBuffer{}
	h, err := plugins.NewHost(plugins.HostConfig{}, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	_, err = h.Validate(context.Background(), spinGuest()[:20], plugins.KindScheduler)
	if !errors.Is(err, plugins.ErrInvalidModule) {
		t.Fatalf("got %v, want %v", err, plugins.ErrInvalidModule)
	}
	if !strings.Contains(logs.String(), "plugin sandbox started") {
		t.Fatalf("no sandbox process answered:\n%s", logs)
	}
}

func TestNotLoadedAndDigest(t *testing.T) {
	h, _ := newHost(t, plugins.HostConfig{})
	ctx := context.Background()
	if _, err := h.Schedule(ctx, strings.Repeat("0", 64), cluster()); !errors.Is(err, plugins.ErrNotLoaded) {
		t.Fatalf("got %v", err)
	}
	if err := h.Load(ctx, strings.Repeat("0", 64), plugins.Builtin("spread")); !errors.Is(err, plugins.ErrDigestMismatch) {
		t.Fatalf("got %v", err)
	}
}

// TestReloadAfterRestart: after a timeout kills the sandbox, every loaded
// module is reloaded into the new one.
func TestReloadAfterRestart(t *testing.T) {
	h, _ := newHost(t, plugins.HostConfig{CallTimeout: 2 * time.Second})
	ctx := context.Background()
	sp := load(t, h, plugins.Builtin("spread"))
	ip := load(t, h, plugins.Builtin("ipam"))
	loop := load(t, h, guest(t, "loop"))
	if _, err := h.Schedule(ctx, loop, cluster()); !errors.Is(err, plugins.ErrTimeout) {
		t.Fatalf("got %v", err)
	}
	if _, err := h.Schedule(ctx, sp, cluster()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Allocate(ctx, ip, &sdk.AllocateRequest{Ports: []sdk.PortRequest{{ID: "x", Protocol: "udp"}}}); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	h, _ := newHost(t, plugins.HostConfig{})
	sha := load(t, h, plugins.Builtin("spread"))
	want := spread.Schedule(cluster())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := h.Schedule(context.Background(), sha, cluster())
			if err == nil && !cmp.Equal(want, got) {
				err = fmt.Errorf("wrong answer")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestContextCancel(t *testing.T) {
	h, _ := newHost(t, plugins.HostConfig{CallTimeout: time.Minute})
	loop := load(t, h, guest(t, "loop"))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := h.Schedule(ctx, loop, cluster()); !errors.Is(err, plugins.ErrTimeout) {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("cancel took %v", d)
	}
}

// TestInProcessDeadline: in-process (WithCloseOnContextDone), a spinning
// guest is stopped at the deadline and the next call gets a fresh instance.
// The guest is spinGuest: compiling a Go guest in-process under -race
// takes a minute and a half on the CI machine.
func TestInProcessDeadline(t *testing.T) {
	h, _ := newHost(t, plugins.HostConfig{InProcess: true, CallTimeout: time.Second})
	ctx := context.Background()
	spin := load(t, h, spinGuest())
	if _, err := h.Schedule(ctx, spin, cluster()); !errors.Is(err, plugins.ErrTimeout) {
		t.Fatalf("got %v", err)
	}
	resp, err := h.Schedule(ctx, spin, &sdk.ScheduleRequest{})
	if err != nil || len(resp.Groups) != 0 {
		t.Fatalf("after the timeout: %+v, %v", resp, err)
	}
}

// measureStall runs a ticker goroutine in the host process while a guest
// loops in the sandbox until its deadline, forcing GCs meanwhile, and
// returns the tick lateness samples.
func measureStall(tb testing.TB, h *plugins.Host, loop string) []time.Duration {
	const tick = 5 * time.Millisecond
	stop := make(chan struct{})
	done := make(chan []time.Duration)
	go func() {
		var late []time.Duration
		next := time.Now().Add(tick)
		t := time.NewTimer(tick)
		defer t.Stop()
		for {
			select {
			case <-stop:
				done <- late
				return
			case now := <-t.C:
				late = append(late, now.Sub(next))
				next = next.Add(tick)
				if d := time.Until(next); d > 0 {
					t.Reset(d)
				} else {
					next = time.Now().Add(tick)
					t.Reset(tick)
				}
			}
		}
	}()
	gcStop := make(chan struct{})
	go func() {
		for {
			select {
			case <-gcStop:
				return
			case <-time.After(50 * time.Millisecond):
				runtime.GC()
			}
		}
	}()
	_, err := h.Schedule(context.Background(), loop, cluster())
	close(gcStop)
	close(stop)
	late := <-done
	if !errors.Is(err, plugins.ErrTimeout) {
		tb.Fatalf("loop guest: got %v", err)
	}
	slices.Sort(late)
	return late
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

func TestHostDoesNotStallWhileGuestLoops(t *testing.T) {
	h, _ := newHost(t, plugins.HostConfig{CallTimeout: 2 * time.Second})
	loop := load(t, h, guest(t, "loop"))
	late := measureStall(t, h, loop)
	t.Logf("ticks %d, p50 %v, p99 %v, max %v", len(late), percentile(late, 0.5), percentile(late, 0.99), late[len(late)-1])
	if m := late[len(late)-1]; m > time.Second {
		t.Fatalf("host goroutine stalled %v while the guest looped", m)
	}
}

func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
