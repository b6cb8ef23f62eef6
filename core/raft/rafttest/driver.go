package rafttest

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/shoal-project/shoal/core/raft"
)

// The driver moves the cluster: one action at a time, each chosen with the
// network's seeded source, and each complete (the nodes it touched have
// handled it and everything it caused) before the next is chosen:
//
//   - deliver one due message (a random link's first message), or
//   - take a tick round: tick every running member once, in a random order.
//
// While messages are due it delivers, with a 1 in earlyTick chance of
// ticking first (so ticks sometimes overtake traffic, as on a loaded
// machine); when none is due it ticks. Raft time is tick rounds, so a
// loaded machine slows a run down but never changes it.
//
// In the default mode a goroutine runs the driver; when no message is due
// it waits TickEvery (or until a message is queued) before the next tick
// round. That wait only paces the run in wall time. With
// ClusterOptions.Manual the test drives it (Step, RunUntil, and the waits of
// the Cluster's helpers), and a seed replays the run exactly when the test
// makes its requests through Call. One thing the seed does not decide: etcd
// raft draws randomized election timeouts from crypto/rand, so a run in
// which a follower's election timeout fires may diverge.

// SeedEnv overrides ClusterOptions.Seed: SHOAL_RAFTTEST_SEED=N go test ...
const SeedEnv = "SHOAL_RAFTTEST_SEED"

// earlyTick: with messages due, a tick round comes first with probability 1/earlyTick.
const earlyTick = 16

func pickSeed(t interface{ Logf(string, ...any) }, seed uint64) uint64 {
	if s := os.Getenv(SeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err == nil {
			return v
		}
		t.Logf("rafttest: ignoring %s=%q: %v", SeedEnv, s, err)
	}
	if seed == 0 {
		seed = rand.Uint64()
	}
	return seed
}

// Seed returns the seed the cluster runs with.
func (c *Cluster) Seed() uint64 { return c.seed }

// Now returns how many tick rounds the cluster has taken.
func (c *Cluster) Now() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Step takes one action; it reports whether it was a tick round.
func (c *Cluster) Step() bool {
	c.stepMu.Lock()
	defer c.stepMu.Unlock()
	if c.Net.Deliverable() && c.Net.IntN(earlyTick) != 0 {
		return !c.Net.DeliverOne()
	}
	c.tickRound()
	return true
}

// RunUntil steps until cond holds, for at most maxTicks tick rounds, and
// reports whether it held.
func (c *Cluster) RunUntil(cond func() bool, maxTicks uint64) bool {
	end := c.Now() + maxTicks
	for !cond() {
		if c.Now() >= end {
			return false
		}
		c.Step()
	}
	return true
}

func (c *Cluster) tickRound() {
	ms := c.Members()
	slices.SortFunc(ms, func(a, b *Member) int { return cmp.Compare(a.ID, b.ID) })
	order := c.Net.Perm(len(ms))
	c.mu.Lock()
	c.now++
	now := c.now
	at := c.stampLocked()
	c.mu.Unlock()
	c.Net.mark(fmt.Sprintf("tick %d", now))
	for _, i := range order {
		m := ms[i]
		c.mu.Lock()
		starve, mat := m.starve, at
		if starve > 0 {
			mat = time.Time{}
			if now%uint64(starve) == 0 {
				m.clock = m.clock.Add(time.Duration(starve) * raft.DefaultTickInterval)
				mat = m.clock
			}
		}
		c.mu.Unlock()
		if starve > 0 && mat.IsZero() {
			quiesce(m.Node)
			continue
		}
		m.ticker.TickAt(mat)
		m.ticks.Add(1)
		quiesce(m.Node)
	}
	c.Net.Advance()
	c.expireDeadlines(now)
}

// TickOnly ticks m alone, once, unstamped, and waits until it handled the
// tick: a test moves some members' clocks while another is busy.
func (c *Cluster) TickOnly(m *Member) {
	m.ticker.Tick()
	m.ticks.Add(1)
	quiesce(m.Node)
}

// PostTick makes one tick due for m without waiting for m to take it (m
// may be busy, on this very goroutine); it reports false when too many are
// waiting already.
func (c *Cluster) PostTick(m *Member) bool {
	if !m.ticker.Post() {
		return false
	}
	m.ticks.Add(1)
	return true
}

// SetTickGap stamps the following tick rounds d apart in time (0: unstamped,
// every tick counted). A gap over 1.5 Raft tick intervals makes every tick
// late, as in a process starved of CPU.
func (c *Cluster) SetTickGap(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tickGap = d
}

// SetStarved starves m's process alone (every > 1; 0 ends it): from the
// next round m takes one tick every `every` rounds, each stamped every
// Raft tick intervals after the previous one (late, as a process that
// could not run), while the other members tick on time. Its messages are
// handled as usual, as a loop that is slow but not stopped.
func (c *Cluster) SetStarved(m *Member, every int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if every > 1 && m.starve == 0 {
		m.clock = time.Unix(1_000_000, 0)
	}
	m.starve = max(every, 0)
	if m.starve == 1 {
		m.starve = 0
	}
}

// stampLocked is the time of the next tick round. c.mu is held.
func (c *Cluster) stampLocked() time.Time {
	if c.tickGap <= 0 {
		return time.Time{}
	}
	c.clock = c.clock.Add(c.tickGap)
	return c.clock
}

// run drives the cluster until Close (default mode).
func (c *Cluster) run() {
	defer close(c.runDone)
	pace := time.NewTimer(c.opts.TickEvery)
	defer pace.Stop()
	for {
		select {
		case <-c.stopc:
			return
		default:
		}
		if !c.Net.Deliverable() {
			select {
			case <-c.Net.Wake():
			default:
			}
			pace.Reset(c.opts.TickEvery)
			select {
			case <-c.stopc:
				return
			case <-c.Net.Wake():
			case <-pace.C:
			}
		}
		c.Step()
	}
}

// pause lets the cluster move on a little: one step in manual mode, a short
// wall-clock sleep while the driver goroutine steps otherwise.
func (c *Cluster) pause() {
	if c.opts.Manual {
		c.Step()
		return
	}
	time.Sleep(2 * time.Millisecond)
}

// Await waits until cond holds, stepping the cluster in manual mode, and
// reports whether it did before timeout of wall time passed (a safety net
// for a stuck run; raft-time limits are tick counts).
func (c *Cluster) Await(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		c.pause()
	}
	return true
}

// tickContext returns a context that ends after ticks more tick rounds.
func (c *Cluster) tickContext(ticks uint64) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	c.deadlines = append(c.deadlines, deadline{at: c.now + ticks, cancel: cancel})
	c.mu.Unlock()
	return ctx, cancel
}

type deadline struct {
	at     uint64
	cancel context.CancelFunc
}

func (c *Cluster) expireDeadlines(now uint64) {
	c.mu.Lock()
	var due []context.CancelFunc
	c.deadlines = slices.DeleteFunc(c.deadlines, func(d deadline) bool {
		if d.at <= now {
			due = append(due, d.cancel)
			return true
		}
		return false
	})
	c.mu.Unlock()
	for _, cancel := range due {
		cancel()
	}
}

// Call runs f, which must make a request (Propose, ReadBarrier, a
// membership change, a transfer) to m's node, with a context that ends
// after ticks tick rounds, and returns its error. The driver holds still until the
// request has reached the node (or f returned), so the request lands at the
// same point of the run on every replay. In manual mode Call then steps, on
// this goroutine, while the node holds the request unanswered; once it
// answered (or the context ended) it waits for f without stepping, so f
// returns at the same point on every replay too.
func (c *Cluster) Call(m *Member, ticks uint64, f func(ctx context.Context) error) error {
	ctx, cancel := c.tickContext(ticks)
	defer cancel()
	res := make(chan error, 1)
	c.stepMu.Lock()
	base := quiescent(m).Requests
	go func() { res <- f(ctx) }()
	err, returned := c.awaitCall(m, base, res)
	c.stepMu.Unlock()
	switch {
	case returned:
		return err
	case !c.opts.Manual:
		return <-res
	}
	for {
		st := quiescent(m)
		if st.Waiting == 0 || ctx.Err() != nil {
			// Answered: f returns, or makes another request (a retry).
			if err, returned := c.awaitCall(m, st.Requests, res); returned {
				return err
			}
		}
		c.Step()
	}
}

// awaitCall waits until m's node has taken more than base requests or f
// returned (then it returns f's error and true). After stepTimeout it stops
// waiting: f makes no request to m (a misuse of Call) or is stuck.
func (c *Cluster) awaitCall(m *Member, base uint64, res chan error) (error, bool) {
	deadline := time.Now().Add(stepTimeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-res:
			return err, true
		default:
		}
		if quiescent(m).Requests > base {
			return nil, false
		}
		time.Sleep(100 * time.Microsecond) // f's goroutine is on its way to the node
	}
	c.t.Logf("rafttest: Call: no request reached %s within %v", m.NodeID, stepTimeout)
	return nil, false
}

// quiescent waits until m's node is idle and returns what it reports
// (zero once it stopped).
func quiescent(m *Member) raft.Quiescent {
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	st, _ := m.Node.Quiesce(ctx)
	return st
}
