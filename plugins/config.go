package plugins

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-project/shoal/sdk"
)

// Kind is what a plugin is installed as.
type Kind string

const (
	KindScheduler Kind = "scheduler"
	KindAllocator Kind = "allocator"
	// KindRebalancer plugins answer shoal_rebalance (rebalance.go).
	KindRebalancer Kind = "rebalancer"
)

// ParseKind accepts "scheduler", "allocator" or "rebalancer".
func ParseKind(s string) (Kind, error) {
	switch Kind(s) {
	case KindScheduler, KindAllocator, KindRebalancer:
		return Kind(s), nil
	}
	return "", fmt.Errorf("unknown plugin kind %q (want scheduler, allocator or rebalancer)", s)
}

func (k Kind) capability() sdk.Capability {
	switch k {
	case KindAllocator:
		return sdk.CapAllocator
	case KindRebalancer:
		return sdk.CapRebalancer
	}
	return sdk.CapScheduler
}

func (k Kind) export() string {
	switch k {
	case KindAllocator:
		return sdk.ExportAllocate
	case KindRebalancer:
		return sdk.ExportRebalance
	}
	return sdk.ExportSchedule
}

// Info describes a validated module.
type Info struct {
	SHA256       string // hex
	Size         int
	ABIVersion   uint32
	Capabilities sdk.Capability
}

// HostConfig configures a Host. Zero values take the defaults noted.
type HostConfig struct {
	// CacheDir holds wazero's compilation cache (put it under the manager's
	// data dir). Empty: no on-disk cache (every sandbox start recompiles).
	CacheDir string
	// MemoryLimitPages caps each instance's linear memory, in 64 KiB pages.
	// Default 4096 (256 MiB).
	MemoryLimitPages uint32
	// CallTimeout bounds one Schedule or Allocate call. Default 5 s.
	CallTimeout time.Duration
	// LoadTimeout bounds Validate and Load (compiling a module cold, and
	// instantiating it). Default 2 min.
	LoadTimeout time.Duration
	// MaxOutput caps the size of an answer, in bytes. Default 16 MiB.
	MaxOutput uint32
	// MaxLogBytes caps the guest stdout+stderr kept per call. Default 16 KiB.
	MaxLogBytes uint32
	// PoolSize is the number of warm instances kept per module. Default 2.
	PoolSize int
	// InProcess runs wazero inside the calling process with
	// WithCloseOnContextDone(true) instead of in a sandbox process. Deadlines
	// still hold, but loop-heavy guests run much slower (see RATIONALE.md).
	// Meant for the plugintest harness and measurements, not for the
	// manager.
	InProcess bool
	// SandboxCommand overrides the sandbox executable (default: this
	// binary, os.Executable()). It is run with SHOAL_PLUGIN_SANDBOX=1.
	SandboxCommand string
	// Registerer, if set, receives the host's metrics.
	Registerer prometheus.Registerer
}

func (c HostConfig) withDefaults() HostConfig {
	if c.MemoryLimitPages == 0 {
		c.MemoryLimitPages = 4096
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 5 * time.Second
	}
	if c.LoadTimeout == 0 {
		c.LoadTimeout = 2 * time.Minute
	}
	if c.MaxOutput == 0 {
		c.MaxOutput = 16 << 20
	}
	if c.MaxLogBytes == 0 {
		c.MaxLogBytes = 16 << 10
	}
	if c.PoolSize <= 0 {
		c.PoolSize = 2
	}
	return c
}
