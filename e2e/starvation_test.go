package e2e

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/endpoint"
)

// electionTimeout is the default election timeout (10 ticks of 100 ms).
const electionTimeout = time.Second

// TestLeadershipHoldsWhenManagersStall stops managers' processes (SIGSTOP)
// as CPU starvation would, with the default Raft timing: the leader for
// half an election timeout, a follower and then all three managers for two
// election timeouts. A slow leader is not a dead one and a starved
// follower must not campaign, so the leader and its term stay the same.
func TestLeadershipHoldsWhenManagersStall(t *testing.T) {
	c := newCluster(t)
	m1 := c.init("m1")
	c.joinManager("m2", m1)
	c.joinManager("m3", m1)
	leaderID := agreeOnLeader(t, c.managers, 3)
	leader := c.byID(leaderID)
	var follower *manager
	for _, m := range c.managers {
		if m != leader {
			follower = m
		}
	}
	_, term, err := clusterLeader(t, leader)
	if err != nil {
		t.Fatal(err)
	}
	stalls := []struct {
		what string
		ms   []*manager
		d    time.Duration
	}{
		{"the leader, half an election timeout", []*manager{leader}, electionTimeout / 2},
		{"a follower, two election timeouts", []*manager{follower}, 2 * electionTimeout},
		{"every manager, two election timeouts", c.managers, 2 * electionTimeout},
	}
	for _, s := range stalls {
		stall(s.ms, s.d)
		t.Logf("stopped %s", s.what)
	}
	// A spurious election would start within a randomized election timeout
	// (at most 2 of them) of the last stall.
	time.Sleep(2 * electionTimeout)
	for _, m := range c.managers {
		l, got, err := clusterLeader(t, m)
		if err != nil {
			t.Fatal(err)
		}
		if l != leaderID || got != term {
			t.Errorf("%s names leader %s in term %d after the stalls, want %s in term %d (a leader change)", m.name, l, got, leaderID, term)
		}
	}
	t.Logf("stall: leader %s kept term %d through every stall", leaderID, term)
	body := scrape(t, filepath.Join(follower.dir, endpoint.SocketName))
	if late := metricValue(body, "shoal_raft_tick_lateness_seconds_sum"); late < electionTimeout.Seconds() {
		t.Errorf("%s reports %.2fs of tick lateness after stalls of %s, want at least %s", follower.name, late, 4*electionTimeout, electionTimeout)
	}
}

// stall stops ms's processes for d, then resumes them.
func stall(ms []*manager, d time.Duration) {
	for _, m := range ms {
		m.signal(syscall.SIGSTOP)
	}
	time.Sleep(d)
	for _, m := range ms {
		m.signal(syscall.SIGCONT)
	}
}
