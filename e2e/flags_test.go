package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// TestJoinFlagsReachTheNode: `join --availability drain --label zone=a`
// makes a node that the cluster lists drained and labelled.
func TestJoinFlagsReachTheNode(t *testing.T) {
	var marks []string
	c := plNewCluster(t, &marks, "--raft-tick", "50ms")
	m1 := c.init("m1", "--heartbeat-period", plHeartbeat.String(), "--label", "zone=m")
	w1 := plJoinWorker(t, c, "w1", m1, "--availability", "drain", "--label", "zone=a", "--label", "disk=ssd")
	for _, tc := range []struct {
		node   *manager
		avail  shoalv1.NodeAvailability
		labels map[string]string
	}{
		{m1, shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE, map[string]string{"zone": "m"}},
		{w1, shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN, map[string]string{"zone": "a", "disk": "ssd"}},
	} {
		n, err := m1.inspect(t, false, tc.node.name)
		if err != nil {
			t.Fatal(err)
		}
		if got := n.GetSpec().GetAvailability(); got != tc.avail {
			t.Errorf("%s: availability %v, want %v", tc.node.name, got, tc.avail)
		}
		if got := fmt.Sprint(n.GetSpec().GetLabels()); got != fmt.Sprint(tc.labels) {
			t.Errorf("%s: labels %s, want %s", tc.node.name, got, fmt.Sprint(tc.labels))
		}
	}
}

// TestFlagsThatCannotWorkAreRefused: each flag a command cannot honour
// makes it fail, naming the flag (and, for a cluster setting or a node's
// spec, the command that changes it), without changing the cluster.
func TestFlagsThatCannotWorkAreRefused(t *testing.T) {
	var marks []string
	c := plNewCluster(t, &marks, "--raft-tick", "50ms")
	m1 := c.init("m1", "--heartbeat-period", plHeartbeat.String())
	with := func(args ...string) []string { return append([]string{"--data-dir", m1.dir}, args...) }
	fresh := func(name string) string { return c.base + "/fresh-" + name }
	tok := strings.TrimSpace(mustRun(t, with("join-token", "worker", "-q")...))
	join := func(name string, flags ...string) badCase {
		args := append([]string{"join", "--data-dir", fresh(name), "--listen-addr", freeAddr(t), "--token", tok}, flags...)
		return badCase{name: "join " + flags[0], args: append(args, m1.addr), dir: fresh(name)}
	}
	runCase := func(name string, flags ...string) badCase {
		return badCase{name: "run " + flags[0], args: append([]string{"run", "--data-dir", fresh(name)}, flags...), dir: fresh(name)}
	}
	wants := func(bc badCase, want string) badCase { bc.want = want; return bc }
	proc := plMark(t, "proc")
	marks = append(marks, proc)
	mustRun(t, with("service", "create", "--name", "proc", "--detach", "--process", "--", "sh", "-c", plLoop, proc)...)

	cases := []badCase{
		wants(join("j1", "--heartbeat-period", "2s"), "--heartbeat-period: shoal join does not take it: the cluster keeps it (set at init); change it with 'shoal cluster update --heartbeat-period'"),
		wants(join("j2", "--snapshot-interval", "500"), "'shoal cluster update --snapshot-interval'"),
		wants(join("j3", "--cert-expiry", "48h"), "'shoal cluster update --cert-expiry'"),
		wants(runCase("r1", "--heartbeat-period", "2s"), "'shoal cluster update --heartbeat-period'"),
		wants(runCase("r2", "--availability", "drain"), "'shoal node update --availability'"),
		wants(runCase("r3", "--label", "zone=a"), "'shoal node update --label-add'"),
		{name: "init availability bogus", args: []string{"init", "--data-dir", fresh("i1"), "--listen-addr", freeAddr(t), "--availability", "bogus"}, want: `--availability "bogus"`, dir: fresh("i1")},
		{name: "join availability bogus", args: []string{"join", "--data-dir", fresh("j4"), "--listen-addr", freeAddr(t), "--availability", "bogus", "--token", tok, m1.addr}, want: `--availability "bogus"`, dir: fresh("j4")},
		{name: "service update --process limit", args: with("service", "update", "--limit-memory", "64m", "proc"), want: "--limit-memory"},
		{name: "service inspect table", args: with("service", "inspect", "proc", "--format", "table"), want: "prints json"},
		{name: "plugin inspect table", args: with("plugin", "inspect", "spread", "--format", "table"), want: "prints json"},
		{name: "cluster update nothing", args: with("cluster", "update"), want: "nothing to update"},
		{name: "cluster update heartbeat too short", args: with("cluster", "update", "--heartbeat-period", "1ms"), want: "heartbeat_period"},
	}
	containerOnly := [][]string{
		{"--user", "1000"}, {"--hostname", "h"}, {"--read-only"}, {"--mount", "type=tmpfs,target=/x"},
		{"--health-cmd", "true"}, {"--health-interval", "5s"}, {"--health-timeout", "5s"}, {"--health-retries", "2"},
		{"--health-start-period", "5s"}, {"--network", "host"}, {"--pids-limit", "10"}, {"--limit-cpu", "1"}, {"--limit-memory", "64m"},
	}
	for _, f := range containerOnly {
		args := with(append(append([]string{"service", "create", "--detach"}, f...), "--process", "--", "true")...)
		cases = append(cases, badCase{name: "service create --process " + f[0], args: args, want: f[0] + ": container-only"})
	}
	checkBad(t, m1, cases)
	if r := m1.cli(t, "service", "ls", "-q"); strings.Count(strings.TrimSpace(r.Stdout), "\n") != 0 {
		t.Errorf("a refused service create stored a service:\n%s", r)
	}
}

// TestAPIErrorsSpeakTheAPI: a NotFound from the API names the object and no
// CLI command; the CLI adds its own hint line.
func TestAPIErrorsSpeakTheAPI(t *testing.T) {
	c := newCluster(t, "--raft-tick", "50ms")
	m1 := c.init("m1")
	cl := m1.apiClient(t, false)
	ctx := t.Context()
	calls := []struct {
		what string
		call func() error
		msg  string
		hint string
	}{
		{"service", func() error {
			_, err := cl.Control.GetService(ctx, connect.NewRequest(&shoalv1.GetServiceRequest{Service: "nosuch"}))
			return err
		}, `service "nosuch" not found`, "hint: list services with 'shoal service ls'"},
		{"node", func() error {
			_, err := cl.Control.GetNode(ctx, connect.NewRequest(&shoalv1.GetNodeRequest{Node: "nosuch"}))
			return err
		}, `node "nosuch" not found`, "hint: list nodes with 'shoal node ls'"},
		{"plugin", func() error {
			_, err := cl.Control.GetPlugin(ctx, connect.NewRequest(&shoalv1.GetPluginRequest{Name: "nosuch"}))
			return err
		}, `plugin "nosuch" not found`, "hint: list plugins with 'shoal plugin ls'"},
	}
	for _, tc := range calls {
		t.Run(tc.what, func(t *testing.T) {
			err := tc.call()
			if connect.CodeOf(err) != connect.CodeNotFound {
				t.Fatalf("err = %v, want NotFound", err)
			}
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Message() != tc.msg {
				t.Errorf("API message %q, want %q", ce.Message(), tc.msg)
			}
			r := m1.cli(t, tc.what, "inspect", "nosuch")
			lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
			if r.Code == 0 || len(lines) != 2 || !strings.Contains(lines[0], tc.msg) || !strings.HasPrefix(lines[1], tc.hint) {
				t.Errorf("CLI: want the API's message, then %q\n%s", tc.hint, r)
			}
		})
	}
}

// TestClusterUpdate: `cluster update` changes what `cluster inspect` shows;
// a new heartbeat period reaches the agents, which heartbeat at it, and a
// new snapshot interval reaches Raft.
func TestClusterUpdate(t *testing.T) {
	var marks []string
	c := plNewCluster(t, &marks, "--raft-tick", "50ms")
	m1 := c.init("m1", "--heartbeat-period", "3s")
	w1 := plJoinWorker(t, c, "w1", m1)

	if strings.Contains(m1.log(), "raft: snapshot") {
		t.Fatal("m1 snapshotted before the update (the default interval is 10,000 entries)")
	}
	mustRun(t, "--data-dir", m1.dir, "cluster", "update", "--heartbeat-period", "2s", "--snapshot-interval", "100",
		"--cert-expiry", "48h", "--task-history-limit", "3")
	res := &shoalv1.GetClusterResponse{}
	if err := protojson.Unmarshal([]byte(mustRun(t, "--data-dir", m1.dir, "cluster", "inspect")), res); err != nil {
		t.Fatal(err)
	}
	sp := res.GetCluster().GetSpec()
	if sp.GetHeartbeatPeriod().AsDuration() != 2*time.Second || sp.GetSnapshotInterval() != 100 ||
		sp.GetNodeCertExpiry().AsDuration() != 48*time.Hour || sp.GetTaskHistoryLimit() != 3 {
		t.Fatalf("cluster inspect after update: %v", sp)
	}
	for _, n := range []*manager{m1, w1} {
		eventually(t, 30*time.Second, n.name+"'s agent heartbeats every 2s", func() error {
			for _, l := range strings.Split(n.log(), "\n") {
				if strings.Contains(l, "heartbeat period set by the manager") && strings.Contains(l, "period=2s") {
					return nil
				}
			}
			return fmt.Errorf("no 'heartbeat period set by the manager ... period=2s' in %s's log", n.name)
		})
	}
	ctl := m1.apiClient(t, false)
	for i := range 150 {
		req := &shoalv1.UpdateNodeRequest{Node: "w1", LabelAdd: map[string]string{"n": fmt.Sprint(i)}}
		if _, err := ctl.Control.UpdateNode(t.Context(), connect.NewRequest(req)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "m1 snapshots after 100 entries", func() error {
		if !strings.Contains(m1.log(), "raft: snapshot") {
			return errors.New("no 'raft: snapshot' in m1's log")
		}
		return nil
	})
}

// TestForceUpdateReplacesTasks: `service update --force` replaces the tasks
// through the task spec's counter, without touching the task's environment.
func TestForceUpdateReplacesTasks(t *testing.T) {
	var marks []string
	c := plNewCluster(t, &marks, "--raft-tick", "50ms")
	m1 := c.init("m1", "--heartbeat-period", plHeartbeat.String())
	plCreateLoopService(t, m1, &marks, "forced", "--replicas", "2", "--update-parallelism", "0", "--update-monitor", "500ms")
	before := runningIDs(t, m1, "forced")
	mustRun(t, "--data-dir", m1.dir, "service", "update", "--force", "forced")
	after := runningIDs(t, m1, "forced")
	for id := range after {
		if before[id] {
			t.Errorf("task %s survived service update --force", id)
		}
	}
	svcs, err := plServices(t, m1)
	if err != nil {
		t.Fatal(err)
	}
	task := svcs[0].GetSpec().GetTask()
	if task.GetForceUpdate() != 1 || strings.Contains(fmt.Sprint(task.GetProcess().GetEnv()), "FORCE") {
		t.Errorf("task spec after --force: %v", task)
	}
}

// runningIDs are the IDs of svc's tasks that run.
func runningIDs(t *testing.T, m *manager, svc string) map[string]bool {
	t.Helper()
	ts, err := serviceTasks(t, m, svc)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, tk := range ts {
		if wantRunning(tk) && isRunning(tk) {
			ids[tk.GetId()] = true
		}
	}
	if len(ids) == 0 {
		t.Fatalf("%s has no running task", svc)
	}
	return ids
}

// TestEveryListPrintsAJSONArray: every ls (and inspect) prints a JSON
// array with --format json.
func TestEveryListPrintsAJSONArray(t *testing.T) {
	var marks []string
	c := plNewCluster(t, &marks, "--raft-tick", "50ms")
	m1 := c.init("m1", "--heartbeat-period", plHeartbeat.String())
	plCreateLoopService(t, m1, &marks, "listed")
	for _, args := range [][]string{
		{"node", "ls"}, {"service", "ls"}, {"plugin", "ls"}, {"service", "ps", "listed"},
		{"node", "inspect", "m1"}, {"service", "inspect", "listed"}, {"plugin", "inspect", "spread"},
	} {
		out := mustRun(t, append(append([]string{"--data-dir", m1.dir}, args...), "--format", "json")...)
		var items []map[string]any
		if err := json.Unmarshal([]byte(out), &items); err != nil || len(items) == 0 {
			t.Errorf("%s --format json: want a non-empty JSON array of objects (%v):\n%s", strings.Join(args, " "), err, out)
		}
	}
}
