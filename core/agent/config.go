package agent

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"os"
	goruntime "runtime"
	"slices"
	"time"

	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/internal/clock"
	"github.com/shoal-project/shoal/runtime"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// Defaults.
const (
	DefaultStatusFlushInterval = 100 * time.Millisecond
	DefaultMinBackoff          = 100 * time.Millisecond
	DefaultMaxBackoff          = 10 * time.Second
	// DefaultHeartbeatPeriod is used until a manager says otherwise.
	DefaultHeartbeatPeriod = 5 * time.Second
	// Version is the agent's protocol version when Config.Version is empty.
	Version = "0.1.0"
)

// Clock is the agent's time source.
type Clock = clock.TimerClock

// Timer is a pending AfterFunc call.
type Timer = clock.Timer

// RealClock is the wall clock.
func RealClock() Clock { return clock.RealTimers() }

// Config configures an Agent.
type Config struct {
	// NodeID is this node's ID (the one in its certificate).
	NodeID string
	// Managers are the addresses of the managers to open a session with
	// first; sessions then tell the agent the current list.
	Managers []string
	// OnManagers, if set, is called with the manager list whenever a
	// session reports a changed one (the node persists it for restarts).
	OnManagers func([]string)
	// Client returns a dispatcher client for a manager address (the caller
	// sets up mTLS). It is called once per connection attempt.
	Client func(addr string) shoalv1connect.DispatcherServiceClient
	// Backend runs the tasks.
	Backend runtime.Backend
	// StateDir holds agent.db. Empty: keep state in memory only (no
	// re-adoption after a restart; for simulated nodes at scale).
	StateDir string
	// Description is sent with each session; nil builds one from the host
	// and the backend. Empty Kinds, Backend and AgentVersion are filled in.
	Description *shoalv1.NodeDescription
	// Version is the agent's version (default Version).
	Version string
	Logger  *slog.Logger
	Clock   Clock
	// Rand jitters the reconnect backoff (default: seeded from NodeID and the time).
	Rand *rand.Rand
	// MinBackoff and MaxBackoff bound the reconnect delay (100 ms, 10 s).
	MinBackoff, MaxBackoff time.Duration
	// StatusFlushInterval is how often status reports are sent (100 ms).
	StatusFlushInterval time.Duration
	// Network, if set, gets the gossip keys and peers of session messages
	// and the networks of assignment messages (core/netagent.Node).
	Network Network
	// Gossip, if set and Network is not, gets the gossip keys and peers of
	// session messages: the node's gossip member without cluster networks,
	// there for failure detection only.
	Gossip Gossip
	// TaskStarted, if set, is told how long each backend start of a task
	// took and its error (metrics).
	TaskStarted func(took time.Duration, err error)
}

// Gossip is the node's gossip member as the agent feeds it.
type Gossip interface {
	SetGossip(keys [][]byte, peers []string) error
}

// Network is the node's cluster-network side as the agent feeds it.
type Network interface {
	SetGossip(keys [][]byte, peers []string) error
	SetNetworks(ctx context.Context, networks []*shoalv1.NetworkAssignment, ingressAddr string) error
}

// Errors returned by New and Run.
var (
	ErrNoManagers = errors.New("agent: no manager addresses")
	ErrNoClient   = errors.New("agent: no dispatcher client constructor")
	ErrNoBackend  = errors.New("agent: no runtime backend")
	ErrNoNodeID   = errors.New("agent: no node ID")
)

func (c *Config) setDefaults() error {
	switch {
	case c.NodeID == "":
		return ErrNoNodeID
	case len(c.Managers) == 0:
		return ErrNoManagers
	case c.Client == nil:
		return ErrNoClient
	case c.Backend == nil:
		return ErrNoBackend
	}
	c.Managers = slices.Clone(c.Managers)
	if c.Version == "" {
		c.Version = Version
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = RealClock()
	}
	if c.Rand == nil {
		h := fnv.New64a()
		h.Write([]byte(c.NodeID))
		c.Rand = rand.New(rand.NewPCG(h.Sum64(), uint64(time.Now().UnixNano())))
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(DefaultMaxBackoff, c.MinBackoff)
	}
	if c.StatusFlushInterval <= 0 {
		c.StatusFlushInterval = DefaultStatusFlushInterval
	}
	var d *shoalv1.NodeDescription
	if c.Description != nil {
		d = cloneDesc(c.Description)
	} else {
		host, _ := os.Hostname()
		d = &shoalv1.NodeDescription{Hostname: host, Os: goruntime.GOOS, Arch: goruntime.GOARCH}
	}
	if len(d.Kinds) == 0 {
		for _, k := range c.Backend.Kinds() {
			d.Kinds = append(d.Kinds, string(k))
		}
	}
	if d.Backend == "" {
		d.Backend = c.Backend.Name()
	}
	if d.AgentVersion == "" {
		d.AgentVersion = c.Version
	}
	c.Description = d
	return nil
}

// backoff returns the delay before reconnect attempt n (0-based): the
// exponential delay capped at MaxBackoff, jittered to [d/2, d].
func backoff(n int, minD, maxD time.Duration, r *rand.Rand) time.Duration {
	d := minD
	for i := 0; i < n && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	half := d / 2
	return half + time.Duration(r.Int64N(int64(d-half)+1))
}
