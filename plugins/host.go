package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/shoal-project/shoal/sdk"
)

// Host runs plugins. It is safe for concurrent use; calls are served one at
// a time.
type Host struct {
	cfg     HostConfig
	log     *slog.Logger
	m       *metrics
	backend backend
	tables  tables
}

// NewHost creates a host. The sandbox process starts lazily on the first
// Validate, Load or call.
func NewHost(cfg HostConfig, logger *slog.Logger) (*Host, error) {
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Host{cfg: cfg, log: logger, m: newMetrics(cfg.Registerer)}
	h.tables.metric = newTablesMetric(cfg.Registerer)
	if cfg.InProcess {
		b, err := newInProcess(engineConfig{
			cacheDir: cfg.CacheDir, memPages: cfg.MemoryLimitPages, maxOutput: cfg.MaxOutput,
			maxLog: cfg.MaxLogBytes, poolSize: cfg.PoolSize,
		})
		if err != nil {
			return nil, err
		}
		h.backend = b
	} else {
		h.backend = newSupervisor(cfg, logger, h.m)
	}
	return h, nil
}

// Digest returns the hex sha256 of a module, the name Load and the calls
// use.
func Digest(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return hex.EncodeToString(sum[:])
}

func (h *Host) withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if h.cfg.InProcess {
		return context.WithTimeout(ctx, d)
	}
	// The sandbox enforces its own deadline; ctx still cancels.
	return ctx, func() {}
}

// Validate checks a module before it is installed as kind: it compiles,
// imports only WASI, exports the ABI functions with the right types, speaks
// ABI version 1 and has kind's capability. Errors wrap ErrInvalidModule,
// ErrABIVersion, ErrMissingExport or ErrCapability with a message meant for
// the person installing it.
func (h *Host) Validate(ctx context.Context, wasm []byte, kind Kind) (Info, error) {
	if _, err := ParseKind(string(kind)); err != nil {
		return Info{}, err
	}
	ctx, cancel := h.withTimeout(ctx, h.cfg.LoadTimeout)
	defer cancel()
	info, err := h.backend.validate(ctx, wasm, kind)
	if err != nil {
		return Info{}, &CallError{Op: "validate", Plugin: Digest(wasm), Err: sentinelOf(err), Detail: detailOf(err)}
	}
	info.SHA256 = Digest(wasm)
	info.Size = len(wasm)
	return info, nil
}

// Load compiles a module (through the compilation cache) and keeps it ready
// under its digest. sha256 must be the hex digest of wasm. Loading the same
// digest again is cheap.
func (h *Host) Load(ctx context.Context, sha256 string, wasm []byte) error {
	if got := Digest(wasm); got != sha256 {
		return &CallError{Op: "load", Plugin: sha256, Err: ErrDigestMismatch, Detail: "bytes hash to " + got}
	}
	ctx, cancel := h.withTimeout(ctx, h.cfg.LoadTimeout)
	defer cancel()
	if err := h.backend.load(ctx, sha256, wasm); err != nil {
		return &CallError{Op: "load", Plugin: sha256, Err: sentinelOf(err), Detail: detailOf(err)}
	}
	return nil
}

// Unload forgets a module.
func (h *Host) Unload(ctx context.Context, sha256 string) {
	h.tables.forget(sha256)
	h.backend.unload(ctx, sha256)
}

// Schedule asks scheduler plugin sha256 to place req. The answer has been
// validated with filter.Validate. Any failure (timeout, trap, invalid or
// oversized answer, an error reported by the plugin) is logged, counted and
// returned as a *CallError: fall back to the native policy.
//
// A guest that keeps its node table (ABI 1.1, every guest built with this
// sdk) gets only what changed since its last call: see delta.go.
func (h *Host) Schedule(ctx context.Context, sha256 string, req *sdk.ScheduleRequest) (*sdk.ScheduleResponse, error) {
	return h.tables.schedule(ctx, h, sha256, req)
}

// Allocate asks allocator plugin sha256 to answer req; like Schedule, with
// allocationProblem as the check.
func (h *Host) Allocate(ctx context.Context, sha256 string, req *sdk.AllocateRequest) (*sdk.AllocateResponse, error) {
	resp, err := roundTrip(h, ctx, sha256, opAllocate, req.Marshal(), sdk.UnmarshalAllocateResponse,
		func(r *sdk.AllocateResponse) string { return r.Error },
		func(r *sdk.AllocateResponse) error { return allocationProblem(req, r) })
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// roundTrip calls op on plugin sha with req, decodes the answer, refuses an
// error the plugin reported (errOf) or an answer validate rejects, and
// records the outcome.
func roundTrip[R any](h *Host, ctx context.Context, sha string, o op, req []byte,
	decode func([]byte) (R, error), errOf func(R) string, validate func(R) error) (R, error) {
	start := time.Now()
	out, err := h.call(ctx, sha, o, req)
	var resp R
	if err == nil {
		resp, err = decode(out)
		switch {
		case err != nil:
			err = errorf(ErrInvalidAnswer, "decode: %v", err)
		case errOf(resp) != "":
			err = errorf(ErrPluginFailed, "%s", errOf(resp))
		default:
			if verr := validate(resp); verr != nil {
				err = errorf(ErrInvalidAnswer, "%v", verr)
			}
		}
	}
	return resp, h.finish(o, sha, start, err)
}

func (h *Host) call(ctx context.Context, sha string, o op, req []byte) ([]byte, error) {
	ctx, cancel := h.withTimeout(ctx, h.cfg.CallTimeout)
	defer cancel()
	out, logs, err := h.backend.call(ctx, sha, o, req)
	if logs != "" {
		h.log.Info("plugin output", "plugin", short(sha), "op", o.String(), "output", logs)
	}
	return out, err
}

func (h *Host) finish(o op, sha string, start time.Time, err error) error {
	h.m.duration.WithLabelValues(o.String()).Observe(time.Since(start).Seconds())
	if err == nil {
		h.m.calls.WithLabelValues(o.String(), "ok").Inc()
		return nil
	}
	h.m.calls.WithLabelValues(o.String(), "failed").Inc()
	h.m.failures.WithLabelValues(o.String(), reason(err)).Inc()
	ce := &CallError{Op: o.String(), Plugin: sha, Err: sentinelOf(err), Detail: detailOf(err)}
	h.log.Warn("plugin call failed; use the native policy", "plugin", short(sha), "op", o.String(), "err", ce)
	return ce
}

// Close stops the sandbox.
func (h *Host) Close() error { return h.backend.close() }

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func sentinelOf(err error) error {
	if ce, ok := err.(*codedError); ok {
		return ce.sentinel
	}
	if ce, ok := err.(*CallError); ok {
		return ce.Err
	}
	return codeError(errorCode(err))
}
