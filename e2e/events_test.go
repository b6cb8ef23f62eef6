package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/shoal-project/shoal/core/ca"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/internal/endpoint"
	"github.com/shoal-project/shoal/internal/httpclient"
	"github.com/shoal-project/shoal/internal/syncbuf"
	"github.com/shoal-project/shoal/internal/testenv"
)

// TestEventsAndMetrics: on one cluster (a manager and a worker, process
// backend), `shoal events` follows a service's life in order and resumes
// with --since without missing anything, a worker certificate may not
// watch, and /metrics shows the cluster (issue 12).
func TestEventsAndMetrics(t *testing.T) {
	var marks []string
	c := plNewCluster(t, &marks, "--raft-tick", "50ms")
	// Snapshots every 10 entries, so the metrics have some to show.
	m1 := c.init("m1", "--heartbeat-period", plHeartbeat.String(), "--snapshot-interval", "10")
	w1 := plJoinWorker(t, c, "w1", m1)
	t.Run("EventsFollowAServiceInOrderAndResumeWithSince", func(t *testing.T) { testEventsFollowAService(t, m1, &marks) })
	t.Run("WorkerCertificateMayNotWatch", func(t *testing.T) { testWorkerMayNotWatch(t, m1, w1) })
	t.Run("MetricsShowRaftNodesTasksAndScheduler", func(t *testing.T) { testClusterMetrics(t, m1, w1, &marks) })
}

// eventsWatcher is a running `shoal events --format json`.
type eventsWatcher struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	errb *syncbuf.Buffer
	done chan struct{}
}

func startEventsWatcher(t *testing.T, m *manager, args ...string) *eventsWatcher {
	t.Helper()
	w := &eventsWatcher{out: &syncbuf.Buffer{}, errb: &syncbuf.Buffer{}, done: make(chan struct{})}
	w.cmd = exec.Command(shoalBin, append([]string{"--data-dir", m.dir, "events", "--format", "json"}, args...)...)
	w.cmd.Stdout, w.cmd.Stderr = w.out, w.errb
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("start shoal events: %v", err)
	}
	go func() { _ = w.cmd.Wait(); close(w.done) }()
	t.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		<-w.done
	})
	return w
}

// events parses the complete lines printed so far.
func (w *eventsWatcher) events(t *testing.T) []*shoalv1.Event {
	t.Helper()
	out := w.out.String()
	out = out[:strings.LastIndexByte(out, '\n')+1]
	var evs []*shoalv1.Event
	for line := range strings.Lines(out) {
		e := &shoalv1.Event{}
		if err := protojson.Unmarshal([]byte(line), e); err != nil {
			t.Fatalf("events printed a line that is not an event: %v: %q", err, line)
		}
		evs = append(evs, e)
	}
	return evs
}

// waitFor waits until the watcher printed an event of typ, action and name.
func (w *eventsWatcher) waitFor(t *testing.T, typ, action, name string) {
	t.Helper()
	eventually(t, 60*time.Second, fmt.Sprintf("events prints %s %s %s", typ, action, name), func() error {
		select {
		case <-w.done:
			return fmt.Errorf("shoal events exited: %s", w.errb.String())
		default:
		}
		if indexOfEvent(w.events(t), typ, action, name) < 0 {
			return fmt.Errorf("not yet; stderr: %s", w.errb.String())
		}
		return nil
	})
}

// interrupt stops the watcher as Ctrl-C does and waits until it exits.
func (w *eventsWatcher) interrupt(t *testing.T) {
	t.Helper()
	_ = w.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		t.Fatal("shoal events did not exit on SIGINT")
	}
	if code := w.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("shoal events exited %d on SIGINT: %s", code, w.errb.String())
	}
}

func indexOfEvent(evs []*shoalv1.Event, typ, action, name string) int {
	return slices.IndexFunc(evs, func(e *shoalv1.Event) bool {
		return e.GetType() == typ && e.GetAction() == action && e.GetName() == name
	})
}

func eventKey(e *shoalv1.Event) string {
	return fmt.Sprintf("%d %s %s %s", e.GetVersion(), e.GetType(), e.GetAction(), e.GetId())
}

// storeVersion is the store version m's cluster inspect reports.
func storeVersion(t *testing.T, m *manager) uint64 {
	t.Helper()
	res := &shoalv1.GetClusterResponse{}
	if err := protojson.Unmarshal([]byte(mustRun(t, "--data-dir", m.dir, "cluster", "inspect")), res); err != nil {
		t.Fatal(err)
	}
	return res.GetRaftAppliedIndex()
}

func testEventsFollowAService(t *testing.T, m1 *manager, marks *[]string) {
	since := strconv.FormatUint(storeVersion(t, m1), 10)
	all := startEventsWatcher(t, m1, "--since", since)
	first := startEventsWatcher(t, m1, "--since", since)

	plCreateLoopService(t, m1, marks, "ev-web")
	first.waitFor(t, "service", "create", "ev-web")
	first.interrupt(t)
	seen := first.events(t)
	resumeFrom := seen[len(seen)-1].GetVersion()

	mustRun(t, "--data-dir", m1.dir, "service", "scale", "ev-web=3")
	second := startEventsWatcher(t, m1, "--since", strconv.FormatUint(resumeFrom, 10))
	mustRun(t, "--data-dir", m1.dir, "service", "rm", "ev-web")
	all.waitFor(t, "service", "remove", "ev-web")
	second.waitFor(t, "service", "remove", "ev-web")

	evs := all.events(t)
	checkServiceLife(t, evs, "ev-web")
	for i := 1; i < len(evs); i++ {
		if evs[i].GetVersion() < evs[i-1].GetVersion() {
			t.Fatalf("event %d (%s) comes after a later version (%s)", i, eventKey(evs[i]), eventKey(evs[i-1]))
		}
	}
	// The watcher stopped and resumed printed exactly what the one that
	// ran throughout did, up to the removal.
	upTo := func(evs []*shoalv1.Event) []string {
		var keys []string
		for _, e := range evs[:indexOfEvent(evs, "service", "remove", "ev-web")+1] {
			keys = append(keys, eventKey(e))
		}
		return keys
	}
	want, got := upTo(evs), upTo(append(seen, second.events(t)...))
	if !slices.Equal(got, want) {
		t.Fatalf("stopped at version %d and resumed with --since, the watcher printed\n%s\nbut the one that ran throughout printed\n%s",
			resumeFrom, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	t.Logf("%d events; the resumed watcher missed none (stopped at version %d)", len(want), resumeFrom)
}

// checkServiceLife checks the events of service name: created first,
// scaled to 3 (an update), removed last, its tasks created in between.
func checkServiceLife(t *testing.T, evs []*shoalv1.Event, name string) {
	t.Helper()
	var actions []string
	scaled := false
	for _, e := range evs {
		if e.GetType() == "service" && e.GetName() == name {
			actions = append(actions, e.GetAction())
			scaled = scaled || e.GetAction() == "update" && e.GetObject().GetService().GetSpec().GetReplicated().GetReplicas() == 3
		}
	}
	if len(actions) < 3 || actions[0] != "create" || actions[len(actions)-1] != "remove" || !scaled {
		t.Fatalf("service %s: actions %v (scaled to 3: %v), want create, updates with one to 3 replicas, remove", name, actions, scaled)
	}
	created, removed := indexOfEvent(evs, "service", "create", name), indexOfEvent(evs, "service", "remove", name)
	for slot := 1; slot <= 3; slot++ {
		i := indexOfEvent(evs, "task", "create", fmt.Sprintf("%s.%d", name, slot))
		if i < created || i > removed {
			t.Fatalf("task %s.%d created at event %d, want between the service's creation (%d) and removal (%d)", name, slot, i, created, removed)
		}
	}
}

func testWorkerMayNotWatch(t *testing.T, m1, w1 *manager) {
	worker, err := ca.LoadNodeTLS(filepath.Join(w1.dir, "certs"))
	if err != nil {
		t.Fatal(err)
	}
	conf := ca.ClientTLSConfig(worker.Root, &worker.Certificate, "")
	ctl := shoalv1connect.NewControlServiceClient(httpclient.TLS(conf), "https://"+m1.addr, connect.WithGRPC())
	ctx, cancel := callCtx()
	defer cancel()
	stream, err := ctl.WatchEvents(ctx, connect.NewRequest(&shoalv1.WatchEventsRequest{}))
	if err == nil {
		defer stream.Close()
		if stream.Receive() {
			t.Fatalf("a worker certificate got events: %v", stream.Msg())
		}
		err = stream.Err()
	}
	wantCode(t, "worker cert WatchEvents", err, connect.CodePermissionDenied)
}

// scrape reads /metrics from sock (a manager's admin socket or a node's
// metrics socket).
func scrape(t *testing.T, sock string) string {
	t.Helper()
	res, err := httpclient.Unix(sock).Get("http://shoal/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /metrics on %s: %d %v: %s", sock, res.StatusCode, err, b)
	}
	return string(b)
}

// metricValue is the value of the series written exactly as series
// (name{labels} as Prometheus prints them), or -1.
func metricValue(body, series string) float64 {
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// sumSeries adds every series of name whose labels contain all of labels.
func sumSeries(body, name string, labels ...string) float64 {
	sum := 0.0
	for line := range strings.Lines(body) {
		series, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || !strings.HasPrefix(series, name+"{") || !containsAll(series, labels) {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			sum += f
		}
	}
	return sum
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// promtoolCheck runs `promtool check metrics` on body.
func promtoolCheck(t *testing.T, what, body string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		testenv.Missing(t, "promtool not found (Debian's prometheus package; scripts/install-deps.sh installs it)")
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check metrics on %s: %v\n%s", what, err, out.String())
	}
}

func testClusterMetrics(t *testing.T, m1, w1 *manager, marks *[]string) {
	plCreateLoopService(t, m1, marks, "ev-metrics", "--replicas", "2")
	sock := filepath.Join(m1.dir, endpoint.SocketName)
	var body string
	eventually(t, 60*time.Second, "the manager's metrics show the running service", func() error {
		body = scrape(t, sock)
		checks := []struct {
			what string
			ok   bool
		}{
			{"a term", metricValue(body, "shoal_raft_term") >= 1},
			{"this manager leads", metricValue(body, "shoal_raft_is_leader") == 1 && metricValue(body, "shoal_raft_has_leader") == 1},
			{"commit >= applied > 0", metricValue(body, "shoal_raft_commit_index") >= metricValue(body, "shoal_raft_applied_index") && metricValue(body, "shoal_raft_applied_index") > 0},
			{"committed proposals", metricValue(body, `shoal_raft_proposals_total{result="ok"}`) > 0},
			{"timed ticks", metricValue(body, "shoal_raft_tick_lateness_seconds_count") > 0},
			{"timed proposals", metricValue(body, "shoal_raft_proposal_duration_seconds_count") > 0},
			{"snapshots taken", metricValue(body, "shoal_raft_snapshot_size_bytes") > 0 && metricValue(body, "shoal_raft_snapshot_duration_seconds_count") > 0 && metricValue(body, "shoal_raft_snapshot_index") > 0},
			{"one voter", metricValue(body, `shoal_raft_members{reachable="true",voter="true"}`) == 1},
			{"2 ready nodes", sumSeries(body, "shoal_nodes", `state="ready"`) == 2},
			{"1 ready worker", sumSeries(body, "shoal_nodes", `role="worker"`, `state="ready"`) == 1},
			{"2 running tasks", metricValue(body, `shoal_tasks{state="running"}`) == 2},
			{"1 replicated service", metricValue(body, `shoal_services{mode="replicated"}`) == 1},
			{"tasks stored", metricValue(body, `shoal_store_objects{kind="task"}`) >= 2},
			{"2 sessions", metricValue(body, "shoal_dispatcher_sessions") == 2},
			{"scheduler passes", metricValue(body, `shoal_scheduler_passes_total{result="ok"}`) > 0 && metricValue(body, "shoal_scheduler_pass_duration_seconds_count") > 0},
			{"placements (ev-web and ev-metrics)", metricValue(body, "shoal_scheduler_placements_total") >= 5},
			{"nothing unplaceable", metricValue(body, "shoal_scheduler_unplaceable_tasks") == 0},
			{"allocations", metricValue(body, "shoal_allocator_allocations_total") >= 5},
			{"reconciles", metricValue(body, `shoal_orchestrator_reconciles_total{result="ok"}`) > 0},
			{"the agent series on the manager", metricValue(body, `shoal_agent_task_starts_total{result="ok"}`) >= 0},
		}
		for _, c := range checks {
			if !c.ok {
				return fmt.Errorf("not yet: %s", c.what)
			}
		}
		return nil
	})
	promtoolCheck(t, "the manager's /metrics", body)

	workerBody := scrape(t, filepath.Join(w1.dir, endpoint.MetricsSocketName))
	if v := metricValue(workerBody, `shoal_agent_task_starts_total{result="ok"}`); v < 1 {
		t.Fatalf("the worker's metrics show %v task starts, want >= 1 (ev-web ran 3 replicas on 2 nodes):\n%s", v, workerBody)
	}
	if metricValue(workerBody, "shoal_raft_term") != -1 {
		t.Fatal("the worker's metrics have Raft series; it is no manager")
	}
	promtoolCheck(t, "the worker's metrics socket", workerBody)
}
