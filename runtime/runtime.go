package runtime

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// Kind is the kind of workload a task runs.
type Kind string

const (
	KindProcess   Kind = "process"   // a plain command on the host
	KindContainer Kind = "container" // an OCI image
)

// TaskSpec is what one task runs. The agent fills it from the task's protobuf spec.
type TaskSpec struct {
	TaskID, ServiceID, ServiceName, NodeID string
	Slot                                   uint64
	Kind                                   Kind
	Image                                  string   // container: image reference
	Command                                []string // process: argv (required). container: overrides the image entrypoint
	Args                                   []string // container: overrides the image cmd
	Env                                    []string // KEY=VALUE
	Dir                                    string
	User, Hostname                         string
	ReadOnlyRootfs                         bool
	Mounts                                 []Mount
	NetworkMode                            string        // container: "bridge" (default, own netns on node-local bridge) or "host"
	StopSignal                             string        // default SIGTERM
	StopGrace                              time.Duration // default 10s
	Resources                              Resources
	Healthcheck                            *Healthcheck
	Labels                                 map[string]string
	// Networks are the task's cluster (overlay) networks with its address on
	// each; a backend that supports them hands them to its NetworkHook.
	Networks []NetworkAttachment
	// Files are the task's secrets and configs. A backend keeps them in
	// memory (a tmpfs), never on the node's disk, and frees them when the
	// task ends (runtime/taskfiles).
	Files []File
	// HostPorts are the task's host-mode published ports: the node answers
	// on Published and forwards to the task's Target.
	HostPorts []HostPort
}

// HostPort is one host-mode published port.
type HostPort struct {
	Protocol          string // "tcp" or "udp"
	Published, Target uint16
}

// File is one secret or config file of a task.
type File struct {
	// Path is where a container sees it: /run/secrets/NAME for a secret,
	// the config's target for a config. A process finds the same tree
	// under its SHOAL_CONFIGS_DIR (so secrets are in SHOAL_SECRETS_DIR).
	Path     string
	Data     []byte
	UID, GID uint32
	Mode     uint32 // permission bits
}

// NetworkAttachment is a task's address on one cluster network.
type NetworkAttachment struct {
	NetworkID string
	Addr      netip.Prefix // with the network's prefix length, e.g. 10.0.1.5/24
}

// NetworkHook connects tasks to the node's cluster networks; the agent gives
// it to the backend. Attach is called once the task's network namespace
// exists (netnsPath, e.g. /proc/PID/ns/net) and returns the resolv.conf the
// task must get (its embedded DNS server); Detach when the task is removed.
type NetworkHook interface {
	Attach(ctx context.Context, spec *TaskSpec, netnsPath string) (resolvConf []byte, err error)
	Detach(ctx context.Context, taskID string) error
}

// NetworkReattacher is a Controller that can reconnect a running task it
// re-adopted (an agent restart) to its cluster networks: the hook's state
// for it (DNS server, gossip attachment, load balancer) lived in the
// previous agent process. A no-op for a task without cluster networks or
// not running; safe to repeat.
type NetworkReattacher interface {
	ReattachNetworks(ctx context.Context) error
}

// Mount is a bind or tmpfs mount inside a container.
type Mount struct {
	Type           string /* "bind" | "tmpfs" */
	Source, Target string
	ReadOnly       bool
	SizeBytes      int64
}

// Resources are the limits of one task.
type Resources struct{ NanoCPUs, CPUShares, MemoryBytes, PidsLimit int64 }

// Healthcheck is a command run periodically inside the task.
type Healthcheck struct {
	Test                           []string
	Interval, Timeout, StartPeriod time.Duration
	Retries                        int
}

// State is the lifecycle state of a task in a backend.
type State string // "created", "running", "exited", "unknown"

const (
	StateCreated State = "created"
	StateRunning State = "running"
	StateExited  State = "exited"
	StateUnknown State = "unknown"
)

// Status is what a backend knows about one task.
type Status struct {
	State                 State
	Pid                   int
	ExitCode              int
	OOMKilled             bool
	Unhealthy             bool     // health check failed Retries times
	Message               string   // human reason, e.g. "health check failed: exit 1"
	Addresses             []string // container IPs (bridge mode), for reporting
	StartedAt, FinishedAt time.Time
}

// LogOptions select which log lines Logs sends.
type LogOptions struct {
	Follow bool
	Tail   int /* -1 = all */
	Since  time.Time
}

// Keeps reports whether a line written at t passes the Since filter.
func (o LogOptions) Keeps(t time.Time) bool {
	return o.Since.IsZero() || !t.Before(o.Since)
}

// SendLine sends ll on out unless ctx ends first.
func SendLine(ctx context.Context, out chan<- LogLine, ll LogLine) error {
	select {
	case out <- ll:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// LogLine is one line of a task's output.
type LogLine struct {
	Time   time.Time
	Stream string /* "stdout" | "stderr" */
	Data   []byte
}

// Backend is one node's executor. One per node.
type Backend interface {
	Name() string
	Kinds() []Kind
	// Controller returns the controller for a task; for a task that already exists
	// in the backend (agent restart) it must attach to it, not recreate it.
	Controller(spec *TaskSpec) (Controller, error)
	// List returns the IDs of the tasks the backend holds (running or not), so the agent can
	// re-adopt them and remove orphans.
	List(ctx context.Context) ([]string, error)
	Close() error
}

// Controller drives one task through its life. Methods are idempotent.
type Controller interface {
	Prepare(ctx context.Context) error                   // pull image / create container / check command
	Start(ctx context.Context) error                     // start the task
	Wait(ctx context.Context) (Status, error)            // blocks until the task exits (or is unhealthy); returns final status
	Stop(ctx context.Context, grace time.Duration) error // stop signal, wait grace, then SIGKILL
	Remove(ctx context.Context) error                    // free everything (container, snapshot, files)
	Inspect(ctx context.Context) (Status, error)
	Logs(ctx context.Context, opts LogOptions, out chan<- LogLine) error // sends lines until done (or ctx end when Follow); closes nothing
}

// Sentinel errors callers test with errors.Is:
var (
	ErrNotFound      = errors.New("runtime: task not found")
	ErrUnsupported   = errors.New("runtime: task kind not supported by this backend")
	ErrImageNotFound = errors.New("runtime: image not found")
	ErrRegistryDown  = errors.New("runtime: registry unreachable")
	ErrInvalidSpec   = errors.New("runtime: invalid task spec")
)
