package plugins

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/shoal-project/shoal/sdk"
)

// Operation selects the guest export a call runs.
type op uint8

const (
	opSchedule op = 1
	opAllocate op = 2
)

func (o op) String() string {
	switch o {
	case opAllocate:
		return "allocate"
	case opRebalance:
		return "rebalance"
	}
	return "schedule"
}

func (o op) export() string {
	switch o {
	case opAllocate:
		return sdk.ExportAllocate
	case opRebalance:
		return sdk.ExportRebalance
	}
	return sdk.ExportSchedule
}

// engineConfig is the part of HostConfig the engine needs; it crosses the
// pipe to the sandbox.
type engineConfig struct {
	cacheDir    string
	memPages    uint32
	maxOutput   uint32
	maxLog      uint32
	poolSize    int
	closeOnDone bool
}

// engine runs modules with wazero. It is not safe for concurrent use: the
// sandbox serves one request at a time and the in-process backend locks.
type engine struct {
	cfg     engineConfig
	memory  experimental.MemoryAllocator // nil: wazero's default
	rt      wazero.Runtime
	cache   wazero.CompilationCache
	modules map[string]*module
}

type module struct {
	compiled wazero.CompiledModule
	idle     []*instance
}

type instance struct {
	mod    api.Module
	alloc  api.Function
	fns    map[op]api.Function
	output *boundedBuffer
}

func newEngine(ctx context.Context, cfg engineConfig) (*engine, error) {
	rc := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(cfg.memPages).
		WithCloseOnContextDone(cfg.closeOnDone)
	var cache wazero.CompilationCache
	if cfg.cacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.cacheDir)
		if err != nil {
			return nil, fmt.Errorf("plugin compilation cache %s: %w", cfg.cacheDir, err)
		}
		cache = c
		rc = rc.WithCompilationCache(c)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("instantiate wasi: %w", err)
	}
	e := &engine{cfg: cfg, rt: rt, cache: cache, modules: make(map[string]*module)}
	if !cfg.closeOnDone {
		// Not in-process: there a cancelled call closes the module, and so
		// frees its memory, from another goroutine while the guest may
		// still run (the sandbox is killed instead).
		e.memory = reservedMemory()
	}
	return e, nil
}

func (e *engine) close(ctx context.Context) {
	e.rt.Close(ctx)
	if e.cache != nil {
		e.cache.Close(ctx)
	}
}

var (
	sigVoidI32     = fnSig{nil, []api.ValueType{api.ValueTypeI32}}
	sigAlloc       = fnSig{[]api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}}
	sigCall        = fnSig{[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}}
	sigInitialize  = fnSig{nil, nil}
	requiredBefore = map[string]fnSig{
		sdk.ExportInitialize:   sigInitialize,
		sdk.ExportABIVersion:   sigVoidI32,
		sdk.ExportCapabilities: sigVoidI32,
	}
)

type fnSig struct{ params, results []api.ValueType }

func (s fnSig) String() string {
	return fmt.Sprintf("(%s) -> (%s)", types(s.params), types(s.results))
}

func types(vs []api.ValueType) string {
	var ss []string
	for _, v := range vs {
		ss = append(ss, api.ValueTypeName(v))
	}
	return strings.Join(ss, ", ")
}

func checkExport(c wazero.CompiledModule, name string, want fnSig) error {
	def, ok := c.ExportedFunctions()[name]
	if !ok {
		return errorf(ErrMissingExport, "missing export %s", name)
	}
	got := fnSig{def.ParamTypes(), def.ResultTypes()}
	if got.String() != want.String() {
		return errorf(ErrMissingExport, "export %s has type %s, want %s", name, got, want)
	}
	return nil
}

// compile compiles (or fetches from the cache) and checks imports and the
// exports needed to ask the module its version.
func (e *engine) compile(ctx context.Context, wasm []byte) (wazero.CompiledModule, error) {
	c, err := e.rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, errorf(ErrInvalidModule, "compile: %v", err)
	}
	for _, imp := range c.ImportedFunctions() {
		mod, name, _ := imp.Import()
		if mod != wasi_snapshot_preview1.ModuleName {
			c.Close(ctx)
			return nil, errorf(ErrInvalidModule, "imports %s.%s, which the host does not provide", mod, name)
		}
	}
	names := make([]string, 0, len(requiredBefore))
	for n := range requiredBefore {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := checkExport(c, n, requiredBefore[n]); err != nil {
			c.Close(ctx)
			return nil, err
		}
	}
	return c, nil
}

// validate checks a module fully: it instantiates it, asks its ABI version
// and capabilities and checks the exports its kind needs.
func (e *engine) validate(ctx context.Context, wasm []byte, kind Kind) (Info, error) {
	c, err := e.compile(ctx, wasm)
	if err != nil {
		return Info{}, err
	}
	defer c.Close(ctx)
	out := newBoundedBuffer(e.cfg.maxLog)
	mod, err := e.rt.InstantiateModule(ctx, c, moduleConfig(out))
	if err != nil {
		return Info{}, classify(ctx, fmt.Errorf("instantiate: %w", err), out)
	}
	defer mod.Close(ctx)
	ver, err := mod.ExportedFunction(sdk.ExportABIVersion).Call(ctx)
	if err != nil {
		return Info{}, classify(ctx, fmt.Errorf("%s: %w", sdk.ExportABIVersion, err), out)
	}
	info := Info{Size: len(wasm), ABIVersion: uint32(ver[0])}
	if info.ABIVersion != sdk.ABIVersion {
		return info, errorf(ErrABIVersion, "plugin exports ABI version %d; this manager speaks %d", info.ABIVersion, sdk.ABIVersion)
	}
	caps, err := mod.ExportedFunction(sdk.ExportCapabilities).Call(ctx)
	if err != nil {
		return info, classify(ctx, fmt.Errorf("%s: %w", sdk.ExportCapabilities, err), out)
	}
	info.Capabilities = sdk.Capability(caps[0])
	if err := checkExport(c, sdk.ExportAlloc, sigAlloc); err != nil {
		return info, err
	}
	if err := checkExport(c, kind.export(), sigCall); err != nil {
		return info, err
	}
	if info.Capabilities&kind.capability() == 0 {
		return info, errorf(ErrCapability, "plugin capabilities %#x do not include %s (did it call sdk.Register%s in init?)",
			uint32(info.Capabilities), kind, strings.ToUpper(string(kind[:1]))+string(kind[1:]))
	}
	return info, nil
}

func moduleConfig(out *boundedBuffer) wazero.ModuleConfig {
	// No FS, no env, no args: the guest sees nothing of the host. Each
	// instance is anonymous so several can coexist.
	return wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(sdk.ExportInitialize).
		WithStdout(out).
		WithStderr(out)
}

// load compiles a module and warms one instance.
func (e *engine) load(ctx context.Context, sha string, wasm []byte) error {
	if _, ok := e.modules[sha]; ok {
		return nil
	}
	c, err := e.compile(ctx, wasm)
	if err != nil {
		return err
	}
	m := &module{compiled: c}
	inst, err := e.instantiate(ctx, m)
	if err != nil {
		c.Close(ctx)
		return err
	}
	m.idle = append(m.idle, inst)
	e.modules[sha] = m
	return nil
}

func (e *engine) unload(ctx context.Context, sha string) {
	m, ok := e.modules[sha]
	if !ok {
		return
	}
	for _, inst := range m.idle {
		inst.mod.Close(ctx)
	}
	m.compiled.Close(ctx)
	delete(e.modules, sha)
}

func (e *engine) instantiate(ctx context.Context, m *module) (*instance, error) {
	out := newBoundedBuffer(e.cfg.maxLog)
	if e.memory != nil {
		ctx = experimental.WithMemoryAllocator(ctx, e.memory)
	}
	mod, err := e.rt.InstantiateModule(ctx, m.compiled, moduleConfig(out))
	if err != nil {
		return nil, classify(ctx, fmt.Errorf("instantiate: %w", err), out)
	}
	inst := &instance{mod: mod, alloc: mod.ExportedFunction(sdk.ExportAlloc), fns: map[op]api.Function{}, output: out}
	for _, o := range []op{opSchedule, opAllocate, opRebalance} {
		if f := mod.ExportedFunction(o.export()); f != nil {
			inst.fns[o] = f
		}
	}
	if inst.alloc == nil {
		mod.Close(ctx)
		return nil, errorf(ErrMissingExport, "missing export %s", sdk.ExportAlloc)
	}
	return inst, nil
}

// call runs one request on a pooled instance. The guest's output of this
// call is returned even on error. Any error discards the instance: after a
// trap the guest's Go runtime is unusable even if the module looks open.
func (e *engine) call(ctx context.Context, sha string, o op, req []byte) (out []byte, logs string, err error) {
	m, ok := e.modules[sha]
	if !ok {
		return nil, "", errorf(ErrNotLoaded, "%s", sha)
	}
	var inst *instance
	if n := len(m.idle); n > 0 {
		inst, m.idle = m.idle[n-1], m.idle[:n-1]
	} else if inst, err = e.instantiate(ctx, m); err != nil {
		return nil, "", err
	}
	inst.output.Reset()
	out, err = inst.run(ctx, o, req, e.cfg.maxOutput)
	logs = inst.output.String()
	if err != nil {
		inst.mod.Close(ctx)
		return nil, logs, classify(ctx, err, nil)
	}
	if len(m.idle) < e.cfg.poolSize {
		m.idle = append(m.idle, inst)
	} else {
		inst.mod.Close(ctx)
	}
	return out, logs, nil
}

func (inst *instance) run(ctx context.Context, o op, req []byte, maxOutput uint32) ([]byte, error) {
	fn := inst.fns[o]
	if fn == nil {
		return nil, errorf(ErrMissingExport, "missing export %s", o.export())
	}
	res, err := inst.alloc.Call(ctx, uint64(len(req)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sdk.ExportAlloc, err)
	}
	ptr := uint32(res[0])
	if !inst.mod.Memory().Write(ptr, req) {
		return nil, errorf(ErrInvalidAnswer, "%s returned %#x: %d bytes do not fit in guest memory", sdk.ExportAlloc, ptr, len(req))
	}
	res, err = fn.Call(ctx, uint64(ptr), uint64(len(req)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.export(), err)
	}
	optr, olen := sdk.UnpackResult(res[0])
	if olen > maxOutput {
		return nil, errorf(ErrOutputTooLarge, "answer of %d bytes exceeds the %d byte cap", olen, maxOutput)
	}
	view, ok := inst.mod.Memory().Read(optr, olen)
	if !ok {
		return nil, errorf(ErrInvalidAnswer, "answer at %#x+%d lies outside guest memory", optr, olen)
	}
	return append([]byte(nil), view...), nil
}

// classify maps a wazero error to a sentinel.
func classify(ctx context.Context, err error, out *boundedBuffer) error {
	var ce *codedError
	if errors.As(err, &ce) {
		return err
	}
	detail, _, _ := strings.Cut(err.Error(), "\n") // drop wazero's wasm stack trace
	if out != nil && out.Len() > 0 {
		guest := out.String()
		if strings.Contains(guest, "out of memory") {
			detail = "guest ran out of memory (the instance's memory limit): " + detail
		}
		if len(guest) > 512 {
			guest = guest[:512] + "..."
		}
		detail += "; guest output: " + guest
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded, sys.ExitCodeContextCanceled:
			return errorf(ErrTimeout, "%s", detail)
		}
	}
	if ctx.Err() != nil {
		return errorf(ErrTimeout, "%s", detail)
	}
	return errorf(ErrTrap, "%s", detail)
}

// boundedBuffer keeps the first max bytes written to it and counts the rest.
type boundedBuffer struct {
	mu      sync.Mutex
	max     int
	buf     []byte
	dropped int
}

func newBoundedBuffer(max uint32) *boundedBuffer { return &boundedBuffer{max: int(max)} }

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.max - len(b.buf)
	if room >= len(p) {
		b.buf = append(b.buf, p...)
	} else {
		if room > 0 {
			b.buf = append(b.buf, p[:room]...)
		}
		b.dropped += len(p) - max(room, 0)
	}
	return len(p), nil
}

func (b *boundedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf, b.dropped = b.buf[:0], 0
}

func (b *boundedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buf)
}

func (b *boundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped > 0 {
		return fmt.Sprintf("%s... (%d bytes dropped)", b.buf, b.dropped)
	}
	return string(b.buf)
}
