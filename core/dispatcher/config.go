package dispatcher

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/shoal-project/shoal/core/auth"
	"github.com/shoal-project/shoal/internal/clock"
)

// Defaults (SwarmKit's values).
const (
	DefaultHeartbeatPeriod     = 5 * time.Second
	DefaultGraceMultiplier     = 3
	DefaultStatusFlushInterval = 100 * time.Millisecond
	DefaultMaxBatchItems       = 10000
	// DefaultAssignmentBatch is how long changes to a node's assignments
	// are collected before they are sent (SwarmKit's batching wait).
	DefaultAssignmentBatch = 100 * time.Millisecond
	// Version is the dispatcher's protocol version when Config.Version is empty.
	Version = "0.1.0"
)

// Clock is the dispatcher's time source.
type Clock = clock.TimerClock

// Timer is a pending AfterFunc call.
type Timer = clock.Timer

// RealClock is the wall clock.
func RealClock() Clock { return clock.RealTimers() }

// Config configures a Dispatcher. Zero values take the defaults.
type Config struct {
	// HeartbeatPeriod is the period agents are told to heartbeat at (5 s)
	// until the cluster's spec says otherwise (see heartbeat.go).
	HeartbeatPeriod time.Duration
	// GraceMultiplier: a node is DOWN after HeartbeatPeriod*GraceMultiplier
	// without a heartbeat (3).
	GraceMultiplier int
	// ReconnectGrace is how long nodes that were READY when this manager
	// became leader get to open a session before they are marked DOWN
	// (default HeartbeatPeriod*GraceMultiplier).
	ReconnectGrace time.Duration
	// StatusFlushInterval is how often queued node status writes are
	// flushed to the store (100 ms). Task status reports do not wait for
	// it: they are flushed as soon as no flush is in flight (status.go).
	StatusFlushInterval time.Duration
	// MaxBatchItems flushes at once when this many writes are queued (10,000).
	MaxBatchItems int
	// AssignmentBatch is how long the changes to a node's assignments are
	// collected, from the first, before they are sent in one message
	// (100 ms; < 0: each committed entry's changes at once). A scheduler
	// places a big service in many entries, each touching most nodes: sent
	// one by one, the messages cost the leader and the agents more than
	// the tasks (issue 14).
	AssignmentBatch time.Duration
	// Clock is the time source (default the wall clock).
	Clock Clock
	// Version is the dispatcher's version ("major.minor.patch"); agents whose
	// major differs or whose minor is more than one away are refused.
	Version string
	// IsLeader reports whether this manager leads (default: always).
	IsLeader func() bool
	// LeaderAddr is the leader's address, sent to agents by a follower.
	LeaderAddr func() string
	// Managers lists the managers' addresses, sent to agents (optional).
	Managers func() []string
	// NodeDown, if set, is called when a node is marked DOWN: its
	// heartbeats stopped, or (neverReconnected) it did not open a session
	// after a leader change. Called with the dispatcher's lock held: it
	// must not block (metrics).
	NodeDown func(neverReconnected bool)
	// DisruptionMinNodes and DisruptionThreshold: in a cluster of at least
	// DisruptionMinNodes nodes (50), when more than DisruptionThreshold of
	// them (0.1) are unhealthy at once, expired nodes are marked DOWN one
	// per DisruptedDownInterval (default: the heartbeat period) instead of
	// all at once (disruption.go). A negative DisruptionMinNodes turns the
	// guard off.
	DisruptionMinNodes    int
	DisruptionThreshold   float64
	DisruptedDownInterval time.Duration
	// DownsHeld, if set, is called with how many expired nodes a scan newly
	// held READY (not held by the scan before) because the cluster is
	// disrupted. Called with the dispatcher's
	// lock held: it must not block (metrics).
	DownsHeld func(n int)
	// NodeIdentity returns the calling node's ID and role from the request
	// context (default: core/auth.FromContext).
	NodeIdentity func(ctx context.Context) (nodeID string, manager bool, err error)
	// Rand is where gossip keys come from (default crypto/rand).
	Rand io.Reader
}

func (c *Config) setDefaults() error {
	if c.HeartbeatPeriod <= 0 {
		c.HeartbeatPeriod = DefaultHeartbeatPeriod
	}
	if c.GraceMultiplier <= 0 {
		c.GraceMultiplier = DefaultGraceMultiplier
	}
	if c.ReconnectGrace <= 0 {
		c.ReconnectGrace = c.HeartbeatPeriod * time.Duration(c.GraceMultiplier)
	}
	switch {
	case c.DisruptionMinNodes == 0:
		c.DisruptionMinNodes = DefaultDisruptionMinNodes
	case c.DisruptionMinNodes < 0:
		c.DisruptionMinNodes = math.MaxInt
	}
	if c.DisruptionThreshold <= 0 {
		c.DisruptionThreshold = DefaultDisruptionThreshold
	}
	if c.AssignmentBatch == 0 {
		c.AssignmentBatch = DefaultAssignmentBatch
	}
	if c.StatusFlushInterval <= 0 {
		c.StatusFlushInterval = DefaultStatusFlushInterval
	}
	if c.MaxBatchItems <= 0 {
		c.MaxBatchItems = DefaultMaxBatchItems
	}
	if c.Clock == nil {
		c.Clock = RealClock()
	}
	if c.Version == "" {
		c.Version = Version
	}
	if _, err := parseVersion(c.Version); err != nil {
		return fmt.Errorf("dispatcher: config version: %w", err)
	}
	if c.IsLeader == nil {
		c.IsLeader = func() bool { return true }
	}
	if c.LeaderAddr == nil {
		c.LeaderAddr = func() string { return "" }
	}
	if c.Managers == nil {
		c.Managers = func() []string { return nil }
	}
	if c.NodeIdentity == nil {
		c.NodeIdentity = identityFromAuth
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	return nil
}

// ErrNoIdentity is returned when the request carries no node identity.
var ErrNoIdentity = errors.New("dispatcher: caller has no node certificate")

func identityFromAuth(ctx context.Context) (string, bool, error) {
	id, ok := auth.FromContext(ctx)
	if !ok || id.NodeID == "" {
		return "", false, ErrNoIdentity
	}
	return id.NodeID, id.Role == "manager", nil
}
