package pluginmgr

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/shoal-project/shoal/core/allocator"
	"github.com/shoal-project/shoal/core/scheduler"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/plugins"
	"github.com/shoal-project/shoal/sdk"
)

// ErrNotFound is returned for a plugin name that is neither built in nor installed.
var ErrNotFound = errors.New("pluginmgr: no such plugin")

// MaxModuleBytes bounds an installed module.
const MaxModuleBytes = 32 << 20

// DefaultAllocator is the built-in allocation policy's name.
const DefaultAllocator = "ipam"

type stat struct {
	calls, failures uint64
	lastErr         string
}

// Manager is one manager's view of the cluster's plugins.
type Manager struct {
	host *plugins.Host
	// probe runs untrusted work — validating a module being installed, dry
	// runs — in its own sandbox, so a module that loops in its start-up
	// code or a slow dry run never holds up live scheduling.
	probe *plugins.Host
	st    *store.Store
	log   *slog.Logger

	mu     sync.Mutex
	loaded map[string]bool // sha256 -> compiled and ready
	// builtinSHA holds the built-in modules' digests, computed once.
	builtinSHA map[string]string
	stats      map[string]*stat
	shadows    map[string]*shoalv1.ShadowReport // leader memory only

	// shadowHost runs the shadow scheduler in sandboxes of its own, fed by
	// the scheduler's tap through shadowIn (bounded, off the
	// pass's critical path).
	shadowHost    *plugins.Host
	shadowIn      chan shadowCall
	shadowMetrics *shadowMetrics
}

// New starts a plugin host for the manager whose store is st.
func New(st *store.Store, cfg plugins.HostConfig, log *slog.Logger) (*Manager, error) {
	h, err := plugins.NewHost(cfg, log.With("component", "plugin-host"))
	if err != nil {
		return nil, err
	}
	pcfg := cfg
	pcfg.Registerer = nil // the probe's calls are not the cluster's
	if pcfg.CacheDir != "" {
		pcfg.CacheDir += "-probe"
	}
	if pcfg.LoadTimeout == 0 {
		pcfg.LoadTimeout = ProbeLoadTimeout
	}
	probe, err := plugins.NewHost(pcfg, log.With("component", "plugin-probe"))
	if err != nil {
		_ = h.Close()
		return nil, err
	}
	scfg := pcfg
	scfg.LoadTimeout = cfg.LoadTimeout
	if cfg.CacheDir != "" {
		scfg.CacheDir = cfg.CacheDir + "-shadow"
	}
	shadow, err := plugins.NewHost(scfg, log.With("component", "plugin-shadow"))
	if err != nil {
		_ = errors.Join(h.Close(), probe.Close())
		return nil, err
	}
	shas := map[string]string{}
	for _, name := range plugins.BuiltinNames() {
		shas[name] = plugins.Digest(plugins.Builtin(name))
	}
	return &Manager{host: h, probe: probe, st: st, log: log, loaded: map[string]bool{}, stats: map[string]*stat{}, builtinSHA: shas,
		shadows: map[string]*shoalv1.ShadowReport{}, shadowHost: shadow, shadowIn: make(chan shadowCall, ShadowQueue),
		shadowMetrics: newShadowMetrics(cfg.Registerer)}, nil
}

// ProbeLoadTimeout bounds validating a module at install: compiling a
// large module cold takes about a second here; its start-up code gets the rest.
const ProbeLoadTimeout = 30 * time.Second

// Close stops the hosts and their sandboxes.
func (m *Manager) Close() error {
	return errors.Join(m.host.Close(), m.probe.Close(), m.shadowHost.Close())
}

// Run keeps every installed module loaded until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	go m.runShadow(ctx)
	for ctx.Err() == nil {
		var mods []*shoalv1.PluginModule
		events, cancel, err := m.st.ViewAndWatch(func(tx store.ReadTx) (err error) {
			mods, err = tx.FindPlugins(store.All())
			return err
		}, store.ForKind(store.KindPlugin))
		if err != nil {
			return err
		}
		for _, p := range mods {
			m.load(ctx, p)
		}
	loop:
		for {
			var ev store.Event
			var ok bool
			select {
			case <-ctx.Done():
				break loop
			case ev, ok = <-events:
				if !ok {
					break loop // fell behind or restored: read again
				}
			}
			switch ev.Kind {
			case store.EventCreate, store.EventUpdate:
				if p, ok := ev.Object.(*shoalv1.PluginModule); ok {
					m.load(ctx, p)
				}
			case store.EventRemove:
				if p, ok := ev.Old.(*shoalv1.PluginModule); ok {
					m.host.Unload(ctx, p.GetId())
					m.mu.Lock()
					delete(m.loaded, p.GetId())
					m.mu.Unlock()
				}
			}
		}
		cancel()
	}
	return nil
}

func (m *Manager) load(ctx context.Context, p *shoalv1.PluginModule) {
	if err := m.ensureLoaded(ctx, p.GetId(), p.GetWasm()); err != nil {
		m.log.Error("load plugin", "plugin", p.GetName(), "sha256", p.GetId(), "err", err)
	}
}

func (m *Manager) ensureLoaded(ctx context.Context, sha string, wasm []byte) error {
	m.mu.Lock()
	ok := m.loaded[sha]
	m.mu.Unlock()
	if ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := m.host.Load(ctx, sha, wasm); err != nil {
		return err
	}
	m.mu.Lock()
	m.loaded[sha] = true
	m.mu.Unlock()
	return nil
}

// module finds a plugin's bytes by name: built in, else installed.
func (m *Manager) module(name string, kind plugins.Kind) (sha string, wasm []byte, err error) {
	if k, ok := plugins.BuiltinKind(name); ok {
		if k != kind {
			return "", nil, fmt.Errorf("plugin %q is a %s plugin, not a %s", name, k, kind)
		}
		return m.builtinSHA[name], plugins.Builtin(name), nil
	}
	// Called on every scheduling pass: read the module in place. Stored
	// objects are never modified, so keeping its bytes is safe, and a
	// multi-megabyte clone per pass is avoided.
	var p *shoalv1.PluginModule
	err = m.st.View(func(tx store.ReadTx) error {
		return tx.Range(store.KindPlugin, store.ByName(name), func(o store.Object) bool {
			p = o.(*shoalv1.PluginModule)
			return false
		})
	})
	if err != nil {
		return "", nil, err
	}
	if p == nil {
		return "", nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	if want := KindProto(kind); p.GetKind() != want {
		return "", nil, fmt.Errorf("plugin %q is not a %s plugin", name, kind)
	}
	return p.GetId(), p.GetWasm(), nil
}

// KindProto converts a host kind to the API's.
func KindProto(k plugins.Kind) shoalv1.PluginKind {
	switch k {
	case plugins.KindAllocator:
		return shoalv1.PluginKind_PLUGIN_KIND_ALLOCATOR
	case plugins.KindRebalancer:
		return shoalv1.PluginKind_PLUGIN_KIND_REBALANCER
	}
	return shoalv1.PluginKind_PLUGIN_KIND_SCHEDULER
}

// KindOf converts the API's kind to the host's.
func KindOf(k shoalv1.PluginKind) (plugins.Kind, error) {
	switch k {
	case shoalv1.PluginKind_PLUGIN_KIND_SCHEDULER:
		return plugins.KindScheduler, nil
	case shoalv1.PluginKind_PLUGIN_KIND_ALLOCATOR:
		return plugins.KindAllocator, nil
	case shoalv1.PluginKind_PLUGIN_KIND_REBALANCER:
		return plugins.KindRebalancer, nil
	}
	return "", fmt.Errorf("kind: use scheduler, allocator or rebalancer")
}

func (m *Manager) record(name string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats[name]
	if s == nil {
		s = &stat{}
		m.stats[name] = s
	}
	s.calls++
	if err != nil {
		s.failures++
		s.lastErr = err.Error()
	}
}

// Stats returns this manager's counters for a plugin.
func (m *Manager) Stats(name string) *shoalv1.PluginStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats[name]
	if s == nil {
		return &shoalv1.PluginStats{}
	}
	return &shoalv1.PluginStats{Calls: s.calls, Failures: s.failures, LastError: s.lastErr}
}

// wasmScheduler runs a scheduler plugin and counts its outcome.
type wasmScheduler struct {
	m    *Manager
	name string
	sha  string
	wasm []byte
}

func (w wasmScheduler) Schedule(ctx context.Context, req *sdk.ScheduleRequest) (*sdk.ScheduleResponse, error) {
	resp, err := w.call(ctx, req)
	w.m.record(w.name, err)
	return resp, err
}

func (w wasmScheduler) call(ctx context.Context, req *sdk.ScheduleRequest) (*sdk.ScheduleResponse, error) {
	if err := w.m.ensureLoaded(ctx, w.sha, w.wasm); err != nil {
		return nil, err
	}
	// Host.Schedule has already refused plugin errors and invalid answers.
	resp, err := w.m.host.Schedule(ctx, w.sha, req)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// Policy implements scheduler.PolicySource: name is a built-in or
// installed scheduler plugin.
func (m *Manager) Policy(name string) (scheduler.Policy, error) {
	sha, wasm, err := m.module(name, plugins.KindScheduler)
	if err != nil {
		return nil, err
	}
	return wasmScheduler{m: m, name: name, sha: sha, wasm: wasm}, nil
}

// wasmAllocator runs the cluster's active allocator plugin.
type wasmAllocator struct{ m *Manager }

func (w wasmAllocator) Allocate(ctx context.Context, req *sdk.AllocateRequest) (*sdk.AllocateResponse, error) {
	name := DefaultAllocator
	_ = w.m.st.View(func(tx store.ReadTx) error {
		return tx.Range(store.KindCluster, store.All(), func(o store.Object) bool {
			name = cmp.Or(o.(*shoalv1.Cluster).GetSpec().GetDefaultAllocator(), name)
			return false
		})
	})
	resp, err := w.call(ctx, name, req)
	w.m.record(name, err)
	return resp, err
}

func (w wasmAllocator) call(ctx context.Context, name string, req *sdk.AllocateRequest) (*sdk.AllocateResponse, error) {
	sha, wasm, err := w.m.module(name, plugins.KindAllocator)
	if err != nil {
		return nil, err
	}
	if err := w.m.ensureLoaded(ctx, sha, wasm); err != nil {
		return nil, err
	}
	// Host.Allocate has already refused plugin errors and invalid answers.
	return w.m.host.Allocate(ctx, sha, req)
}

// Allocator is the allocation policy: the active allocator plugin.
func (m *Manager) Allocator() allocator.Policy { return wasmAllocator{m} }

// Validate checks a module for kind before it is stored.
func (m *Manager) Validate(ctx context.Context, wasm []byte, kind shoalv1.PluginKind) (abi, caps uint32, err error) {
	k, err := KindOf(kind)
	if err != nil {
		return 0, 0, err
	}
	if len(wasm) > MaxModuleBytes {
		return 0, 0, fmt.Errorf("module is %d bytes; the limit is %d", len(wasm), MaxModuleBytes)
	}
	info, err := m.probe.Validate(ctx, wasm, k)
	if err != nil {
		return 0, 0, err
	}
	return info.ABIVersion, uint32(info.Capabilities), nil
}

// Builtins lists the plugins compiled into the binary, with their bytes.
func (m *Manager) Builtins() []*shoalv1.PluginModule {
	var out []*shoalv1.PluginModule
	for _, name := range plugins.BuiltinNames() {
		k, _ := plugins.BuiltinKind(name)
		wasm := plugins.Builtin(name)
		out = append(out, &shoalv1.PluginModule{
			Id: m.builtinSHA[name], Name: name, Kind: KindProto(k), Size: uint64(len(wasm)),
			AbiVersion: sdk.ABIVersion, Capabilities: uint32(capOf(k)), Wasm: wasm, Builtin: true,
		})
	}
	return out
}

func capOf(k plugins.Kind) sdk.Capability {
	switch k {
	case plugins.KindAllocator:
		return sdk.CapAllocator
	case plugins.KindRebalancer:
		return sdk.CapRebalancer
	}
	return sdk.CapScheduler
}
