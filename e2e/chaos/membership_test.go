package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
)

// demotedLines are the log lines of a demoted manager that knows it: its
// Raft member applied its removal or heard of it from a peer (or asked),
// or the node took its worker role first (its role check asks the other
// managers) and stopped its manager.
var demotedLines = []string{
	"raft: this member was removed from the cluster",
	"raft: a peer reports this member was removed from the cluster",
	`msg="role changed" node=`, // followed by role=worker: checked in loggedSince's caller
}

// learnRemovalWithin bounds how long a removed member may take to learn
// it: the commit, or the refusal of its first pre-vote an election timeout
// later; doubled, and a margin, for a loaded machine.
const learnRemovalWithin = 4*electionTimeoutMax + 2*time.Second

// demoteRestarted kills a follower manager, starts it again and demotes it
// at once (issue 13 item 5: a member demoted right after a restart missed
// the leader's "you were removed" answer), then promotes it back after
// hold. It must know it was demoted within learnRemovalWithin: its Raft
// member learned of the removal, or its node took the worker role.
func demoteRestarted(c *cluster, rng *rand.Rand, _ *round, hold time.Duration) (string, []string) {
	leader := c.leader()
	var followers []*node
	for _, m := range c.managers {
		if m != leader {
			followers = append(followers, m)
		}
	}
	n := pick(rng, followers)
	n.kill()
	logged := logSize(n)
	c.must(n.restart())
	demoted := c.retry("demote "+n.name, func(api shoalv1connect.ControlServiceClient) error {
		_, err := api.DemoteNode(context.Background(), connect.NewRequest(&shoalv1.DemoteNodeRequest{Node: n.name}))
		return err
	}, n)
	var violations []string
	if _, err := poll(learnRemovalWithin, func() error { return loggedSince(n, logged, demotedLines) }); err != nil {
		violations = append(violations, fmt.Sprintf("%s, demoted right after its restart, did not learn of its demotion within %s: %v", n.name, learnRemovalWithin, err))
	}
	time.Sleep(time.Until(demoted.Add(hold)))
	c.retry("promote "+n.name, func(api shoalv1connect.ControlServiceClient) error {
		_, err := api.PromoteNode(context.Background(), connect.NewRequest(&shoalv1.PromoteNodeRequest{Node: n.name}))
		return err
	}, n)
	return fmt.Sprintf("demoted %s right after its restart, promoted it back", n.name), violations
}

func logSize(n *node) int64 {
	fi, err := os.Stat(n.logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// loggedSince reports whether n's log has one of lines past offset.
func loggedSince(n *node, offset int64, lines []string) error {
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		return err
	}
	if offset > int64(len(b)) {
		offset = 0
	}
	for _, line := range strings.Split(string(b[offset:]), "\n") {
		for _, l := range lines {
			if strings.Contains(line, l) && (!strings.Contains(l, "role changed") || strings.HasSuffix(line, "role=worker")) {
				return nil
			}
		}
	}
	return fmt.Errorf("no %q in %s", lines, n.logPath)
}

// retry calls f through the managers but except in turn until one call
// succeeds, and returns when; the test fails after waitTimeout.
func (c *cluster) retry(what string, f func(api shoalv1connect.ControlServiceClient) error, except *node) time.Time {
	c.t.Helper()
	i := 0
	c.eventually(what, func() error {
		m := c.managers[i%len(c.managers)]
		i++
		if m == except {
			return fmt.Errorf("skip %s", m.name)
		}
		return f(m.api.Control)
	})
	return time.Now()
}
