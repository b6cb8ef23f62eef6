package chaos

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/shoal-project/shoal/internal/testhost"
)

// fault is one nemesis: it injects its fault, holds it for hold, heals
// it, and returns what it saw that breaks a rule (violations) and a few
// words on what it did.
type fault struct {
	name string
	run  func(c *cluster, rng *rand.Rand, r *round, hold time.Duration) (what string, violations []string)
}

var faults = []fault{
	{"kill", killRestart},
	{"pause", pause},
	{"isolate-leader", isolateLeader},
	{"split", split},
	{"one-way", oneWay},
	{"lossy", lossy},
	{"delay", delay},
	{"disk-full", diskFull},
	{"demote-restarted", demoteRestarted},
}

func faultNamed(name string) (fault, bool) {
	for _, f := range faults {
		if f.name == name {
			return f, true
		}
	}
	return fault{}, false
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// killRestart SIGKILLs a node (a manager twice as often as a worker) and
// starts it again after hold.
func killRestart(c *cluster, rng *rand.Rand, _ *round, hold time.Duration) (string, []string) {
	n := pick(rng, append(c.nodes(), c.managers...))
	n.kill()
	time.Sleep(hold)
	c.must(n.restart())
	return "killed " + n.name, nil
}

// pause stops a manager (the leader half the time) with SIGSTOP for hold,
// longer than an election timeout, then SIGCONT.
func pause(c *cluster, rng *rand.Rand, _ *round, hold time.Duration) (string, []string) {
	n := pick(rng, c.managers)
	if l := c.leader(); l != nil && rng.IntN(2) == 0 {
		n = l
	}
	n.signal(syscall.SIGSTOP)
	time.Sleep(max(hold, 2*electionTimeoutMax))
	n.signal(syscall.SIGCONT)
	return "paused " + n.name, nil
}

// isolateLeader cuts the leader off both ways (see probeCutOff).
func isolateLeader(c *cluster, _ *rand.Rand, r *round, hold time.Duration) (string, []string) {
	old := c.leader()
	if old == nil {
		return "no leader to isolate", nil
	}
	violations := probeCutOff(c, old, r, hold, func() { c.net.Host(old.name).Cut(testhost.Both) })
	c.net.HealAll()
	return "isolated leader " + old.name, violations
}

// probeCutOff cuts leader off with cut and, for hold, writes and reads
// through it: a write it acknowledges that was called more than an
// election timeout after the cut breaks CheckQuorum's promise (the reads
// go into the history, where porcupine judges them).
func probeCutOff(c *cluster, leader *node, r *round, hold time.Duration, cut func()) []string {
	key := r.regKey(0)
	svc, ok := r.readReg(leader.api, probeClient, key)
	cut()
	at := time.Now()
	var violations []string
	for time.Since(at) < hold {
		if ok {
			call := time.Now()
			if r.casReg(leader.api, probeClient, key, svc, fmt.Sprintf("p-%d", counter.Add(1))) == OK && call.Sub(at) > electionTimeoutMax {
				violations = append(violations, fmt.Sprintf("%s, cut off, acknowledged a write called %s after the cut", leader.name, call.Sub(at).Round(time.Millisecond)))
			}
		}
		r.readReg(leader.api, probeClient, key)
		time.Sleep(100 * time.Millisecond)
	}
	return violations
}

// probeClient is the client ID of the operations a nemesis makes.
const probeClient = 99

// split cuts a manager and a worker off from the others, both ways; when
// that manager leads, it is probed as a cut-off leader (probeCutOff).
func split(c *cluster, rng *rand.Rand, r *round, hold time.Duration) (string, []string) {
	m := pick(rng, c.managers)
	minority := []*testhost.Host{c.net.Host(m.name), c.net.Host(pick(rng, c.workers).name)}
	var majority []*testhost.Host
	for _, h := range c.net.Hosts() {
		if h != minority[0] && h != minority[1] {
			majority = append(majority, h)
		}
	}
	cut := func() {
		for _, h := range minority {
			h.Cut(testhost.Both, majority...)
		}
	}
	var violations []string
	if c.leader() == m {
		violations = probeCutOff(c, m, r, hold, cut)
	} else {
		cut()
		time.Sleep(hold)
	}
	c.net.HealAll()
	return fmt.Sprintf("split %s+%s from the rest", minority[0].Name, minority[1].Name), violations
}

// oneWay drops what a manager receives, or what it sends.
func oneWay(c *cluster, rng *rand.Rand, _ *round, hold time.Duration) (string, []string) {
	n := pick(rng, c.managers)
	d := pick(rng, []testhost.Direction{testhost.Inbound, testhost.Outbound})
	c.net.Host(n.name).Cut(d)
	time.Sleep(hold)
	c.net.HealAll()
	return fmt.Sprintf("cut %s %s", n.name, d), nil
}

// lossy drops 20-50 % of a manager's packets both ways.
func lossy(c *cluster, rng *rand.Rand, _ *round, hold time.Duration) (string, []string) {
	n := pick(rng, c.managers)
	pct := 20 + rng.IntN(31)
	c.net.Host(n.name).Lossy(testhost.Both, pct)
	time.Sleep(hold)
	c.net.HealAll()
	return fmt.Sprintf("%d%% loss on %s", pct, n.name), nil
}

// diskFull fills the tmpfs under the third manager's data dir, holds, and
// frees it.
func diskFull(c *cluster, _ *rand.Rand, _ *round, hold time.Duration) (string, []string) {
	m := c.managers[2]
	path := filepath.Join(m.dir, "chaos-filler")
	err := fill(path)
	time.Sleep(hold)
	c.must(os.Remove(path))
	if err != nil {
		return fmt.Sprintf("filling %s's disk failed: %v", m.name, err), []string{"disk-full: " + err.Error()}
	}
	return "filled " + m.name + "'s disk", nil
}

// fill writes path until the file system is full.
func fill(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return err
		}
	}
}
