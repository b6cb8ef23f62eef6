package containerd

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/log"
	"github.com/sirupsen/logrus"
	lslog "github.com/sirupsen/logrus/hooks/slog"
	"golang.org/x/sync/singleflight"

	"github.com/shoal-project/shoal/runtime"
)

// Labels put on every container this backend creates.
const (
	LabelTaskID      = "shoal.task.id"
	LabelServiceID   = "shoal.service.id"
	LabelServiceName = "shoal.service.name"
	LabelSlot        = "shoal.task.slot"
	LabelNodeID      = "shoal.node.id"
	LabelAddress     = "shoal.net.address" // container IP in bridge mode
	LabelNetns       = "shoal.net.netns"   // netns name in bridge mode
	LabelStartedAt   = "shoal.started-at"  // RFC 3339, set when the task is started
)

const (
	defaultSnapshotter = "overlayfs"
	defaultLogMaxBytes = 10 << 20
	defaultLogKeep     = 2
	defaultStopGrace   = 10 * time.Second
	minMemoryBytes     = 4 << 20
)

// Config configures one node's backend.
type Config struct {
	// Address is containerd's gRPC socket, e.g. /run/containerd/containerd.sock.
	Address string
	// Namespace is the containerd namespace of this shoal node, e.g. "shoal-<nodeid>".
	Namespace string
	// StateDir holds task logs, OOM markers and the address allocations.
	StateDir string
	// InsecureRegistries are registry hosts ("host:port") pulled over plain HTTP.
	InsecureRegistries []string
	// BridgeName is the node-local Linux bridge (at most 15 bytes). Default: derived
	// from Namespace ("shl" + 8 hex digits).
	BridgeName string
	// BridgeSubnet is the node-local IPv4 /16../30 range, e.g. "10.88.7.0/24"; the
	// bridge takes the first host address. Default: a 10.88.N.0/24 no interface of the
	// host holds, chosen when the bridge is first created (N searched from a hash of
	// Namespace, under a host-wide lock) and kept in StateDir.
	BridgeSubnet string
	// Snapshotter defaults to "overlayfs".
	Snapshotter string
	// LogMaxBytes is the size past which a task log is rotated. Default 10 MiB.
	LogMaxBytes int64
	// LogKeep is how many rotated task logs are kept (task.log.1 ... task.log.N).
	// Default 2; negative keeps none.
	LogKeep int
	// NetworkHook attaches tasks with cluster Networks to them (the node's
	// network agent); nil refuses such tasks at Start.
	NetworkHook runtime.NetworkHook
}

// validName is what containerd accepts as a container ID (and a task ID here).
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,75}$`)

func (c *Config) setDefaults() error {
	if c.Address == "" {
		return errors.New("containerd: Config.Address (containerd socket) is required")
	}
	if c.Namespace == "" {
		return errors.New("containerd: Config.Namespace is required")
	}
	if err := identifiers.Validate(c.Namespace); err != nil {
		return fmt.Errorf("containerd: namespace %q: %w", c.Namespace, err)
	}
	if c.StateDir == "" {
		return errors.New("containerd: Config.StateDir is required")
	}
	if c.BridgeName == "" {
		c.BridgeName = DefaultBridgeName(c.Namespace)
	}
	if len(c.BridgeName) > 15 {
		return fmt.Errorf("containerd: bridge name %q longer than 15 bytes", c.BridgeName)
	}
	if c.Snapshotter == "" {
		c.Snapshotter = defaultSnapshotter
	}
	if c.LogMaxBytes <= 0 {
		c.LogMaxBytes = defaultLogMaxBytes
	}
	switch {
	case c.LogKeep == 0:
		c.LogKeep = defaultLogKeep
	case c.LogKeep < 0:
		c.LogKeep = 0
	}
	return nil
}

// NodeNamespace is the containerd namespace of the shoal node nodeID: "shoal-" and
// the ID, cut to 40 bytes.
func NodeNamespace(nodeID string) string {
	ns := "shoal-" + nodeID
	if len(ns) > 40 {
		ns = ns[:40]
	}
	return ns
}

// DefaultBridgeName is the bridge of the backend working in namespace ns when
// Config.BridgeName is empty: "shl" and 8 hex digits of a hash of ns.
func DefaultBridgeName(ns string) string {
	h := fnv.New32a()
	h.Write([]byte(ns))
	return fmt.Sprintf("shl%08x", h.Sum32())
}

// Backend is one node's containerd executor. It implements runtime.Backend.
type Backend struct {
	cfg    Config
	log    *slog.Logger
	client *client.Client
	ctx    context.Context // carries the namespace; cancelled by Close
	cancel context.CancelFunc
	pulls  singleflight.Group
	pulled atomic.Int64 // registry pulls performed (not served from the local store)
	// clientLog routes the containerd client's logrus output into the slog logger.
	clientLog *logrus.Entry
	net       *network
	oom       *oomWatcher
	// loggerPath is the binary the shims start as task loggers: this executable
	// (see MaybeRunLogger).
	loggerPath string
	// resolvConf and resolvedConf are where the host's resolver configuration is read
	// (hostResolvConf, resolvedResolvConf; tests point them elsewhere).
	resolvConf, resolvedConf string
	wg                       sync.WaitGroup

	mu    sync.Mutex
	ctrls map[string]*controller
}

var _ runtime.Backend = (*Backend)(nil)

// New connects to containerd and prepares the node's state directory and bridge.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Backend, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "tasks"), 0o700); err != nil {
		return nil, fmt.Errorf("containerd: state dir: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("containerd: own executable (the task logger): %w", err)
	}
	c, err := client.New(cfg.Address, client.WithDefaultNamespace(cfg.Namespace), client.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("containerd: connect %s: %w", cfg.Address, err)
	}
	if _, err := c.Version(namespaces.WithNamespace(ctx, cfg.Namespace)); err != nil {
		c.Close()
		return nil, fmt.Errorf("containerd: %s does not answer: %w", cfg.Address, err)
	}
	nw, err := newNetwork(cfg.BridgeName, cfg.BridgeSubnet, filepath.Join(cfg.StateDir, "ipam.json"), cfg.Namespace)
	if err != nil {
		c.Close()
		return nil, err
	}
	nw.log = logger
	rl := logrus.New()
	rl.SetOutput(io.Discard)
	rl.SetLevel(logrus.InfoLevel)
	rl.AddHook(lslog.NewHook(logger.With("component", "containerd-client"), nil))
	clientLog := logrus.NewEntry(rl)
	bctx, cancel := context.WithCancel(namespaces.WithNamespace(log.WithLogger(context.Background(), clientLog), cfg.Namespace))
	b := &Backend{
		clientLog:    clientLog,
		cfg:          cfg,
		loggerPath:   exe,
		log:          logger,
		client:       c,
		ctx:          bctx,
		cancel:       cancel,
		net:          nw,
		resolvConf:   hostResolvConf,
		resolvedConf: resolvedResolvConf,
		ctrls:        map[string]*controller{},
	}
	b.oom = newOOMWatcher(c, cfg.Namespace, filepath.Join(cfg.StateDir, "tasks"), logger)
	b.wg.Add(1)
	go func() { defer b.wg.Done(); b.oom.run(bctx) }()
	return b, nil
}

// Name implements runtime.Backend.
func (b *Backend) Name() string { return "containerd" }

// Kinds implements runtime.Backend.
func (b *Backend) Kinds() []runtime.Kind { return []runtime.Kind{runtime.KindContainer} }

// Client returns the containerd client (for tests and tools that inspect the namespace).
func (b *Backend) Client() *client.Client { return b.client }

// Namespace returns the containerd namespace this backend works in.
func (b *Backend) Namespace() string { return b.cfg.Namespace }

// Controller implements runtime.Backend. The same task ID always yields the same
// controller; a task whose container already exists is attached to, never recreated.
func (b *Backend) Controller(spec *runtime.TaskSpec) (runtime.Controller, error) {
	if spec == nil {
		return nil, fmt.Errorf("%w: nil task spec", runtime.ErrInvalidSpec)
	}
	if spec.Kind != runtime.KindContainer && spec.Kind != "" {
		return nil, fmt.Errorf("task %s: kind %q: %w", spec.TaskID, spec.Kind, runtime.ErrUnsupported)
	}
	if !validName.MatchString(spec.TaskID) {
		return nil, fmt.Errorf("%w: task id %q must match %s", runtime.ErrInvalidSpec, spec.TaskID, validName)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.ctrls[spec.TaskID]; ok {
		return c, nil
	}
	c := newController(b, spec)
	b.ctrls[spec.TaskID] = c
	return c, nil
}

func (b *Backend) forget(id string) {
	b.mu.Lock()
	delete(b.ctrls, id)
	b.mu.Unlock()
}

// List implements runtime.Backend: the task IDs of every shoal container in the namespace.
func (b *Backend) List(ctx context.Context) ([]string, error) {
	ctx = b.withNS(ctx)
	cs, err := b.client.Containers(ctx, fmt.Sprintf("labels.%q", LabelTaskID))
	if err != nil {
		return nil, fmt.Errorf("containerd: list containers: %w", err)
	}
	ids := make([]string, 0, len(cs))
	for _, c := range cs {
		labels, err := c.Labels(ctx)
		if err != nil {
			continue // deleted meanwhile
		}
		if id := labels[LabelTaskID]; id != "" {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Close stops the backend's goroutines and closes the connection. Containers keep
// running, and the node's network (bridge, NAT rules, address allocations) stays for
// the next agent: Teardown removes it when the node is done for good.
func (b *Backend) Close() error {
	b.cancel()
	b.wg.Wait()
	return b.client.Close()
}

// ErrTasksRemain is Teardown's answer while the node still has containers.
var ErrTasksRemain = errors.New("containerd: the node still has containers")

// Teardown removes what the node's network left on the host once no container of the
// node remains: the bridge, its NAT and FORWARD rules, the persisted subnet and
// address allocations, and any task state directories. While a container remains it
// changes nothing and returns ErrTasksRemain (remove the tasks first). Call it when
// the node leaves for good, not on an agent restart (Close keeps all of it), and not
// concurrently with Prepare or Start. The backend stays usable: a later Prepare sets
// the network up again.
func (b *Backend) Teardown(ctx context.Context) error {
	ids, err := b.List(ctx)
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		return fmt.Errorf("%w: %d (e.g. %s)", ErrTasksRemain, len(ids), ids[0])
	}
	if err := b.net.destroy(ctx); err != nil {
		return fmt.Errorf("containerd: tear down bridge %s: %w", b.cfg.BridgeName, err)
	}
	tasks := filepath.Join(b.cfg.StateDir, "tasks")
	ents, err := os.ReadDir(tasks)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("containerd: %w", err)
	}
	var errs []error
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(tasks, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// withNS scopes ctx to the node's namespace and the backend's logger.
func (b *Backend) withNS(ctx context.Context) context.Context {
	return namespaces.WithNamespace(log.WithLogger(ctx, b.clientLog), b.cfg.Namespace)
}

func (b *Backend) taskDir(id string) string { return filepath.Join(b.cfg.StateDir, "tasks", id) }
