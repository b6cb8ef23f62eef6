package process

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

// ErrClosed is returned by a Backend (and its controllers) after Close.
var ErrClosed = errors.New("process: backend closed")

const (
	defaultStopGrace   = 10 * time.Second
	defaultLogMaxBytes = 10 << 20
	defaultLogKeep     = 2
	defaultPoll        = 200 * time.Millisecond
	defaultStartWait   = 30 * time.Second
)

// Option changes a Backend's defaults.
type Option func(*options)

type options struct {
	logMaxBytes int64
	logKeep     int
	poll        time.Duration
	startWait   time.Duration
	shimPath    string
}

// WithLogRotation sets the size at which a task's output.log is rotated and how
// many old files are kept (default 10 MiB, 2).
func WithLogRotation(maxBytes int64, keep int) Option {
	return func(o *options) { o.logMaxBytes, o.logKeep = maxBytes, keep }
}

// WithPollInterval sets how often the backend looks at task files of adopted
// tasks and followed logs (default 200ms).
func WithPollInterval(d time.Duration) Option {
	return func(o *options) { o.poll = d }
}

// WithShimBinary sets the binary started as shim (default os.Executable()). It
// must call MaybeRunShim first thing.
func WithShimBinary(path string) Option {
	return func(o *options) { o.shimPath = path }
}

// Backend runs tasks as host processes. It is safe for concurrent use.
type Backend struct {
	dir    string // <state dir>/tasks
	log    *slog.Logger
	opts   options
	closed chan struct{}
	wg     sync.WaitGroup // watchers

	mu    sync.Mutex
	tasks map[string]*task
	done  bool
}

var _ runtime.Backend = (*Backend)(nil)

// New returns a Backend keeping its task dirs under dir/tasks. Tasks already
// there (from an earlier Backend, e.g. before an agent restart) are re-adopted
// when Controller is called for them.
func New(dir string, logger *slog.Logger, opts ...Option) (*Backend, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o := options{logMaxBytes: defaultLogMaxBytes, logKeep: defaultLogKeep, poll: defaultPoll, startWait: defaultStartWait}
	for _, opt := range opts {
		opt(&o)
	}
	if o.poll <= 0 {
		o.poll = defaultPoll
	}
	if o.shimPath == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("process backend: find own binary for the shim: %w", err)
		}
		o.shimPath = exe
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("process backend: state dir %q: %w", dir, err)
	}
	tasksDir := filepath.Join(abs, "tasks")
	if err := os.MkdirAll(tasksDir, 0o700); err != nil {
		return nil, fmt.Errorf("process backend: create state dir: %w", err)
	}
	return &Backend{
		dir:    tasksDir,
		log:    logger,
		opts:   o,
		closed: make(chan struct{}),
		tasks:  make(map[string]*task),
	}, nil
}

// Name is "process".
func (b *Backend) Name() string { return "process" }

// Kinds is [process].
func (b *Backend) Kinds() []runtime.Kind { return []runtime.Kind{runtime.KindProcess} }

// Controller returns the controller for spec.TaskID. If the task dir already
// exists the controller attaches to it and the rest of spec is not looked at
// (so an agent can remove an orphan knowing only its ID). For a new task spec
// is validated: Kind must be process (else runtime.ErrUnsupported), Command
// must not be empty and StopSignal must parse (else runtime.ErrInvalidSpec).
func (b *Backend) Controller(spec *runtime.TaskSpec) (runtime.Controller, error) {
	if spec == nil {
		return nil, fmt.Errorf("nil task spec: %w", runtime.ErrInvalidSpec)
	}
	if !validTaskID(spec.TaskID) {
		return nil, fmt.Errorf("task id %q: want 1-200 of [A-Za-z0-9._-]: %w", spec.TaskID, runtime.ErrInvalidSpec)
	}
	b.mu.Lock()
	if b.done {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	if t, ok := b.tasks[spec.TaskID]; ok {
		b.mu.Unlock()
		return &controller{t: t, spec: spec}, nil
	}
	dir := filepath.Join(b.dir, spec.TaskID)
	existing := exists(dir)
	if !existing {
		if err := validateSpec(spec); err != nil {
			b.mu.Unlock()
			return nil, err
		}
	}
	t := newTask(b, spec.TaskID, dir)
	b.tasks[spec.TaskID] = t
	b.mu.Unlock()
	if existing && exists(filepath.Join(dir, fileStarted)) {
		b.log.Info("re-adopting process task", "task", spec.TaskID)
		t.watch()
	}
	return &controller{t: t, spec: spec}, nil
}

func validateSpec(spec *runtime.TaskSpec) error {
	if spec.Kind != runtime.KindProcess {
		return fmt.Errorf("task %s: kind %q: the process backend runs only %q: %w", spec.TaskID, spec.Kind, runtime.KindProcess, runtime.ErrUnsupported)
	}
	if len(spec.Command) == 0 || spec.Command[0] == "" {
		return fmt.Errorf("task %s: a process task needs a command: %w", spec.TaskID, runtime.ErrInvalidSpec)
	}
	if _, err := parseSignal(spec.StopSignal); err != nil {
		return fmt.Errorf("task %s: %w", spec.TaskID, err)
	}
	return nil
}

// List returns the IDs of all task dirs, sorted.
func (b *Backend) List(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir(b.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("process backend: list tasks: %w", err)
	}
	ids := make([]string, 0, len(ents))
	for _, e := range ents {
		if e.IsDir() && validTaskID(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Close stops the backend's watchers. Running tasks keep running; a new
// Backend on the same dir re-adopts them.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.done {
		b.mu.Unlock()
		return nil
	}
	b.done = true
	close(b.closed)
	b.mu.Unlock()
	b.wg.Wait()
	return nil
}

func (b *Backend) forget(id string, t *task) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tasks[id] == t {
		delete(b.tasks, id)
	}
}
