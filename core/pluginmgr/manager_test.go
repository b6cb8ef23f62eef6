package pluginmgr

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/plugins"
	"github.com/shoal-project/shoal/plugins/sandboxtest"
	"github.com/shoal-project/shoal/sdk"
)

func TestMain(m *testing.M) {
	plugins.MaybeRunSandbox()
	code := m.Run()
	sandbox.Remove()
	os.Exit(code)
}

// The hosts run a sandbox built without -race: compiling a module in this
// (race-instrumented) binary takes minutes on the CI machine (plugins/sandboxtest).
var sandbox sandboxtest.Sandbox

func newManager(t *testing.T) (*Manager, *store.Store) {
	t.Helper()
	exe := sandbox.Command(t)
	st := store.NewLocal()
	m, err := New(st, plugins.HostConfig{CacheDir: t.TempDir(), SandboxCommand: exe}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m, st
}

func request() *sdk.ScheduleRequest {
	return &sdk.ScheduleRequest{
		Nodes: []sdk.Node{
			{ID: "n1", Ready: true, Kinds: []string{"process"}, TotalMemoryBytes: 1 << 30, FreeMemoryBytes: 1 << 30},
			{ID: "n2", Ready: true, Kinds: []string{"process"}, TotalMemoryBytes: 1 << 30, FreeMemoryBytes: 1 << 30},
		},
		Groups: []sdk.TaskGroup{{ServiceID: "s1", SpecVersion: 1, Count: 4, TaskIDs: []string{"a", "b", "c", "d"}, Kind: "process"}},
	}
}

func TestBuiltinSchedulerPolicyAndStats(t *testing.T) {
	m, _ := newManager(t)
	p, err := m.Policy("spread")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := p.Schedule(ctx, request())
	if err != nil {
		t.Fatal(err)
	}
	per := map[int32]int{}
	for _, i := range resp.Groups[0].Placements {
		per[i]++
	}
	if per[0] != 2 || per[1] != 2 {
		t.Fatalf("spread placed %v, want 2 and 2", per)
	}
	if st := m.Stats("spread"); st.GetCalls() != 1 || st.GetFailures() != 0 {
		t.Fatalf("stats = %v, want 1 call, 0 failures", st)
	}
	// An allocator is not a scheduler; an unknown name is not found.
	if _, err := m.Policy("ipam"); err == nil {
		t.Fatal("ipam accepted as a scheduler")
	}
	if _, err := m.Policy("nosuch"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown policy: got %v", err)
	}
}

func TestInstalledPluginIsLoadedAndUsed(t *testing.T) {
	m, st := newManager(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = m.Run(ctx) }()
	wasm := plugins.Builtin("binpack")
	abi, caps, err := m.Validate(ctx, wasm, shoalv1.PluginKind_PLUGIN_KIND_SCHEDULER)
	if err != nil || abi != sdk.ABIVersion || caps&uint32(sdk.CapScheduler) == 0 {
		t.Fatalf("validate: abi %d caps %d err %v", abi, caps, err)
	}
	mod := &shoalv1.PluginModule{Id: plugins.Digest(wasm), Name: "packer", Kind: shoalv1.PluginKind_PLUGIN_KIND_SCHEDULER, Wasm: wasm}
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.Create(mod) }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		m.mu.Lock()
		ok := m.loaded[mod.Id]
		m.mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the installed module was never loaded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	p, err := m.Policy("packer")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.Schedule(ctx, request())
	if err != nil {
		t.Fatal(err)
	}
	first := resp.Groups[0].Placements[0]
	for _, i := range resp.Groups[0].Placements {
		if i != first {
			t.Fatalf("binpack spread tasks over nodes: %v", resp.Groups[0].Placements)
		}
	}
}

func TestValidateRefusesWrongKindAndGarbage(t *testing.T) {
	m, _ := newManager(t)
	ctx := context.Background()
	if _, _, err := m.Validate(ctx, plugins.Builtin("spread"), shoalv1.PluginKind_PLUGIN_KIND_ALLOCATOR); err == nil {
		t.Fatal("a scheduler was accepted as an allocator")
	}
	if _, _, err := m.Validate(ctx, []byte("\x00asm garbage"), shoalv1.PluginKind_PLUGIN_KIND_SCHEDULER); err == nil {
		t.Fatal("garbage accepted")
	}
	if _, _, err := m.Validate(ctx, plugins.Builtin("spread"), shoalv1.PluginKind_PLUGIN_KIND_UNSPECIFIED); err == nil {
		t.Fatal("no kind accepted")
	}
}
