package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
)

// fingerprint is the cluster state that bad input must not change: every
// node's ID, spec and role, the join tokens and the cluster's version.
// Node versions are left out: a node's agent updates its status on its own.
func fingerprint(t *testing.T, m *manager) string {
	t.Helper()
	nodes, err := m.nodes(t, false)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, n := range nodes {
		lines = append(lines, fmt.Sprintf("%s role=%v spec={%s}", n.GetId(), n.GetRole(),
			prototext.MarshalOptions{}.Format(n.GetSpec())))
	}
	sort.Strings(lines)
	for _, role := range []string{"worker", "manager"} {
		lines = append(lines, role+" token "+strings.TrimSpace(mustRun(t, "--data-dir", m.dir, "join-token", role, "-q")))
	}
	cl := mustRun(t, "--data-dir", m.dir, "cluster", "inspect")
	// The cluster's own version line; raft term/index move on their own.
	for _, l := range strings.Split(cl, "\n") {
		if strings.Contains(l, `"version"`) {
			lines = append(lines, "cluster "+strings.TrimSpace(l))
			break
		}
	}
	return strings.Join(lines, "\n")
}

type badCase struct {
	name string
	args []string
	want string // in stderr, case-insensitive
	// dir, if set, must hold no node after the command.
	dir string
}

func checkBad(t *testing.T, m *manager, cases []badCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := fingerprint(t, m)
			r := run(t, tc.args...)
			if r.Code == 0 {
				t.Fatalf("exit 0, want an error\n%s", r)
			}
			se := strings.TrimSpace(r.Stderr)
			if se == "" {
				t.Fatalf("no message on stderr\n%s", r)
			}
			if !strings.Contains(strings.ToLower(se), strings.ToLower(tc.want)) {
				t.Fatalf("stderr does not mention %q\n%s", tc.want, r)
			}
			if strings.Contains(se, "panic") || strings.Contains(se, "goroutine ") {
				t.Fatalf("crashed\n%s", r)
			}
			if n := len(strings.Split(se, "\n")); n > 3 {
				t.Fatalf("stderr has %d lines, want a short message\n%s", n, r)
			}
			if strings.TrimSpace(r.Stdout) != "" {
				t.Fatalf("printed on stdout although it failed\n%s", r)
			}
			if tc.dir != "" {
				if _, err := os.Stat(filepath.Join(tc.dir, "node.json")); err == nil {
					t.Fatalf("%s holds a node after the failed command", tc.dir)
				}
			}
			if after := fingerprint(t, m); after != before {
				t.Fatalf("state changed\nbefore:\n%s\nafter:\n%s", before, after)
			}
			t.Logf("exit %d: %s", r.Code, se)
		})
	}
}

func TestBadInput(t *testing.T) {
	c := newCluster(t, "--raft-tick", "50ms")
	m1 := c.init("m1")
	d := []string{"--data-dir", m1.dir}
	with := func(args ...string) []string { return append(append([]string{}, d...), args...) }
	fresh := func(name string) string { return filepath.Join(c.base, "fresh-"+name) }
	tok := strings.TrimSpace(mustRun(t, with("join-token", "worker", "-q")...))
	parts := strings.Split(tok, "-")

	checkBad(t, m1, []badCase{
		{name: "join garbage token", args: []string{"join", "--data-dir", fresh("a"), "--listen-addr", freeAddr(t), "--token", "garbage", m1.addr}, want: "token", dir: fresh("a")},
		{name: "join no token", args: []string{"join", "--data-dir", fresh("b"), "--listen-addr", freeAddr(t), m1.addr}, want: "--token", dir: fresh("b")},
		{name: "join token version 2", args: []string{"join", "--data-dir", fresh("c"), "--listen-addr", freeAddr(t), "--token", strings.Replace(tok, "SHOAL-1-", "SHOAL-2-", 1), m1.addr}, want: "version", dir: fresh("c")},
		{name: "join truncated token", args: []string{"join", "--data-dir", fresh("d"), "--listen-addr", freeAddr(t), "--token", tok[:len(tok)-3], m1.addr}, want: "secret", dir: fresh("d")},
		{name: "join token bad alphabet", args: []string{"join", "--data-dir", fresh("e"), "--listen-addr", freeAddr(t), "--token", strings.Join([]string{parts[0], parts[1], parts[2], strings.Repeat("z", 32)}, "-"), m1.addr}, want: "invalid character", dir: fresh("e")},
		{name: "join bad manager address", args: []string{"join", "--data-dir", fresh("f"), "--listen-addr", freeAddr(t), "--token", tok, "no-port"}, want: "host:port", dir: fresh("f")},
		{name: "init over an existing node", args: []string{"init", "--data-dir", m1.dir, "--listen-addr", freeAddr(t)}, want: "already holds a node"},
		{name: "node inspect unknown", args: with("node", "inspect", "nope"), want: "not found"},
		{name: "node rm unknown", args: with("node", "rm", "nope"), want: "not found"},
		{name: "node update unknown", args: with("node", "update", "nope", "--label-add", "a=b"), want: "not found"},
		{name: "node promote unknown", args: with("node", "promote", "nope"), want: "not found"},
		{name: "node demote unknown", args: with("node", "demote", "nope"), want: "not found"},
		{name: "demote the last manager", args: with("node", "demote", m1.nodeID), want: "last manager"},
		{name: "availability bogus", args: with("node", "update", m1.nodeID, "--availability", "bogus"), want: "--availability"},
		{name: "update nothing", args: with("node", "update", m1.nodeID), want: "nothing to update"},
		{name: "label without value", args: with("node", "update", m1.nodeID, "--label-add", "novalue"), want: "key=value"},
		{name: "label empty key", args: with("node", "update", m1.nodeID, "--label-add", "=v"), want: "key=value"},
		{name: "label bad key", args: with("node", "update", m1.nodeID, "--label-add", "bad key!=v"), want: "label key"},
		{name: "label value too long", args: with("node", "update", m1.nodeID, "--label-add", "big="+strings.Repeat("x", 1025)), want: "1024"},
		{name: "label rm missing", args: with("node", "update", m1.nodeID, "--label-rm", "missing"), want: "no label"},
		{name: "join-token bogus", args: with("join-token", "bogus"), want: "worker or manager"},
		{name: "node ls yaml", args: with("node", "ls", "--format", "yaml"), want: "--format"},
		{name: "node inspect yaml", args: with("node", "inspect", m1.nodeID, "--format", "yaml"), want: "--format"},
		{name: "cluster inspect yaml", args: with("cluster", "inspect", "--format", "yaml"), want: "--format"},
		{name: "node ls extra arg", args: with("node", "ls", "extra"), want: "unknown command"},
		{name: "unknown flag", args: with("node", "ls", "--bogus"), want: "unknown flag"},
		{name: "no data dir", args: []string{"--data-dir", fresh("none"), "node", "ls"}, want: "no shoal node"},
		{name: "host without tls dir files", args: []string{"--host", m1.addr, "--tls-dir", fresh("none"), "node", "ls"}, want: "admin certificate"},
	})

	// With a second manager: removing a reachable manager needs --force.
	m2 := c.joinManager("m2", m1)
	agreeOnLeader(t, []*manager{m1, m2}, 2)
	checkBad(t, m1, []badCase{
		{name: "rm reachable follower manager", args: with("node", "rm", m2.nodeID), want: "reachable manager"},
		{name: "rm reachable leader manager", args: with("node", "rm", m1.nodeID), want: "reachable manager"},
		{name: "rm reachable manager via the other", args: []string{"--data-dir", m2.dir, "node", "rm", m1.nodeID}, want: "reachable manager"},
	})
}
