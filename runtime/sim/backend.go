package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/shoal-project/shoal/internal/clock"
	"github.com/shoal-project/shoal/runtime"
)

// ErrClosed is returned by a Backend (and its controllers) after Close.
var ErrClosed = errors.New("sim: backend closed")

// Exit codes of simulated tasks.
const (
	ExitCompleted = 0   // ran RunTime and finished
	ExitFailed    = 1   // picked by FailureRate
	ExitStopped   = 143 // stopped (128 + SIGTERM)
)

// Config describes how a Backend's tasks behave.
type Config struct {
	// Name is what Name returns; default "sim".
	Name string
	// StartLatency is how long Start takes before the task runs.
	StartLatency time.Duration
	// RunTime is how long a task runs before it exits with code 0; 0 = forever.
	RunTime time.Duration
	// FailureRate (0..1) is the share of tasks that exit with code 1 instead.
	FailureRate float64
	// FailAfter bounds how long a failing task runs: it exits a uniformly
	// drawn time in [0, FailAfter] after it started running (0 = at once).
	FailAfter time.Duration
	// Clock is the time source; nil means the wall clock.
	Clock Clock
	// Rand seeds the backend: New draws two numbers from it, after which a
	// task's fate depends only on those and the task ID. nil means a fixed seed.
	Rand *rand.Rand
	// Prepare, if set, is called by Prepare for each new task; its error is
	// returned (wrapped), e.g. runtime.ErrImageNotFound for a missing image.
	Prepare func(spec *runtime.TaskSpec) error
	// Logger gets debug messages; nil discards them.
	Logger *slog.Logger
}

// Backend simulates one node's executor. It is safe for concurrent use; one
// mutex guards its task table.
type Backend struct {
	name  string
	cfg   Config
	clock Clock
	seed1 uint64
	seed2 uint64
	log   *slog.Logger

	mu      sync.Mutex
	tasks   map[string]*task
	nextPid int
	closed  bool
}

var _ runtime.Backend = (*Backend)(nil)

// New returns a simulated backend.
func New(cfg Config) (*Backend, error) {
	if cfg.FailureRate < 0 || cfg.FailureRate > 1 {
		return nil, fmt.Errorf("sim: failure rate %v not in [0, 1]", cfg.FailureRate)
	}
	if cfg.StartLatency < 0 || cfg.RunTime < 0 || cfg.FailAfter < 0 {
		return nil, errors.New("sim: negative duration in config")
	}
	b := &Backend{name: cfg.Name, cfg: cfg, clock: cfg.Clock, log: cfg.Logger, tasks: make(map[string]*task), nextPid: 1000}
	if b.name == "" {
		b.name = "sim"
	}
	if b.clock == nil {
		b.clock = clock.RealTimers()
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand != nil {
		b.seed1, b.seed2 = cfg.Rand.Uint64(), cfg.Rand.Uint64()
	}
	return b, nil
}

// Name returns Config.Name ("sim" by default).
func (b *Backend) Name() string { return b.name }

// Kinds is [process, container]: the simulation runs both.
func (b *Backend) Kinds() []runtime.Kind {
	return []runtime.Kind{runtime.KindProcess, runtime.KindContainer}
}

// Controller returns the controller of spec.TaskID. For a task the backend
// already holds it attaches and ignores the rest of spec.
func (b *Backend) Controller(spec *runtime.TaskSpec) (runtime.Controller, error) {
	if spec == nil || spec.TaskID == "" {
		return nil, fmt.Errorf("task spec without task id: %w", runtime.ErrInvalidSpec)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if _, ok := b.tasks[spec.TaskID]; !ok {
		if err := validate(spec); err != nil {
			return nil, err
		}
	}
	return &controller{b: b, id: spec.TaskID, spec: spec}, nil
}

func validate(spec *runtime.TaskSpec) error {
	switch spec.Kind {
	case runtime.KindProcess:
		if len(spec.Command) == 0 || spec.Command[0] == "" {
			return fmt.Errorf("task %s: a process task needs a command: %w", spec.TaskID, runtime.ErrInvalidSpec)
		}
	case runtime.KindContainer:
		if spec.Image == "" {
			return fmt.Errorf("task %s: a container task needs an image: %w", spec.TaskID, runtime.ErrInvalidSpec)
		}
	default:
		return fmt.Errorf("task %s: kind %q: %w", spec.TaskID, spec.Kind, runtime.ErrUnsupported)
	}
	return nil
}

// List returns the IDs of the prepared tasks, sorted.
func (b *Backend) List(ctx context.Context) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := make([]string, 0, len(b.tasks))
	for id := range b.tasks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// Close disarms all timers and wakes every blocked caller with ErrClosed.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	for _, t := range b.tasks {
		t.disarm()
		t.notify()
	}
	return nil
}

// Len returns how many tasks the backend holds.
func (b *Backend) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.tasks)
}

// fate decides, from the seed and the task ID alone, whether a task fails
// and after what fraction of FailAfter.
func (b *Backend) fate(id string) (fail bool, frac float64) {
	h := uint64(14695981039346656037) // FNV-1a
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	x := splitmix64(h ^ b.seed1)
	y := splitmix64(x ^ b.seed2)
	return unitFloat(x) < b.cfg.FailureRate, unitFloat(y)
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func unitFloat(x uint64) float64 { return float64(x>>11) / (1 << 53) }
