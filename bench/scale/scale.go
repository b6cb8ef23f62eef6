package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/internal/client"
)

// ErrTimeout is returned (wrapped) when the tasks do not all run in time.
var ErrTimeout = errors.New("scale: timed out")

// Config sizes one benchmark run.
type Config struct {
	Managers int // managers (default 3)
	Nodes    int // simulated worker nodes
	Tasks    int // replicas of the one service
	// Dir holds the managers' data dirs; "" makes (and removes) a temp dir.
	Dir string
	// HeartbeatPeriod is the cluster's agent heartbeat (default 5s).
	HeartbeatPeriod time.Duration
	// TickInterval is the managers' Raft tick (election after 10 ticks);
	// 0 keeps core/raft's default.
	TickInterval time.Duration
	// MaxStartLatency spreads the sim backends' start latency over [0, max].
	MaxStartLatency time.Duration
	// JoinConcurrency is how many nodes join at once (default 32).
	JoinConcurrency int
	// Timeout bounds the wait for all tasks RUNNING (default 10m) and,
	// at least 2m, for all nodes READY.
	Timeout time.Duration
	// PollInterval is how often task states are counted (default 250ms).
	PollInterval time.Duration
	// AgentsNice, if positive, is the nice value this process (the
	// simulated nodes) takes once the managers' processes are started, as
	// if the nodes ran on other machines. main's default is 10.
	AgentsNice int
	// Logger is the simulated agents' logger.
	Logger *slog.Logger
	// ManagerLogs writes the managers' warnings to their manager.log.
	ManagerLogs bool
	// ManagerMemoryLimit is each manager process's soft memory limit, as
	// shoal's daemon takes it (--memory-limit; "" or auto: its default).
	ManagerMemoryLimit string
	// ManagerGOGC, when not 0, is each manager process's GOGC (its garbage
	// collector's target heap growth in percent; < 0 turns it off).
	ManagerGOGC int
	// Progress, if set, gets one line per poll and per phase.
	Progress func(string)
	// LeaderCPUProfile, if set, is where the leader process writes a CPU
	// profile of the service phase (CreateService to all RUNNING).
	LeaderCPUProfile string
	// ServicePhase, if set, is called with true just before CreateService
	// and with false once every task runs (or the wait fails): main uses it
	// to profile that phase of this process alone.
	ServicePhase func(start bool)
}

func (c *Config) defaults() {
	if c.Managers <= 0 {
		c.Managers = 3
	}
	if c.HeartbeatPeriod <= 0 {
		c.HeartbeatPeriod = 5 * time.Second
	}
	if c.JoinConcurrency <= 0 {
		c.JoinConcurrency = 32
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 250 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Progress == nil {
		c.Progress = func(string) {}
	}
	if c.ServicePhase == nil {
		c.ServicePhase = func(bool) {}
	}
}

// ManagerResult is one manager process, measured on its own.
type ManagerResult struct {
	Index      int     `json:"index"`
	NodeID     string  `json:"node_id"`
	PID        int     `json:"pid"`
	Leader     bool    `json:"leader"`                // led at the end
	RSS        uint64  `json:"rss_bytes"`             // VmRSS at all RUNNING
	PeakRSS    uint64  `json:"peak_rss_bytes"`        // VmHWM over the whole run
	CPU        float64 `json:"cpu_s"`                 // utime+stime over the whole run
	ServiceCPU float64 `json:"service_cpu_s"`         // utime+stime from CreateService to all RUNNING
	HeapInuse  uint64  `json:"heap_inuse_bytes"`      // at all RUNNING
	PeakHeap   uint64  `json:"peak_heap_inuse_bytes"` // highest sampled (every poll)
	SandboxRSS uint64  `json:"sandbox_rss_bytes"`     // its plugin sandbox children
}

// Result is what one run measured. Durations of the service phases count
// from just before CreateService was called.
type Result struct {
	Managers int `json:"managers"`
	Nodes    int `json:"nodes"`
	Tasks    int `json:"tasks"`

	ClusterUp  time.Duration `json:"cluster_up_ns"`  // managers formed
	Join       time.Duration `json:"join_ns"`        // all worker certificates issued
	NodesReady time.Duration `json:"nodes_ready_ns"` // agents started -> all nodes READY

	CreateCall  time.Duration `json:"create_call_ns"`  // CreateService round trip
	AllCreated  time.Duration `json:"all_created_ns"`  // every task in the store
	AllPending  time.Duration `json:"all_pending_ns"`  // every task allocated: PENDING or later
	AllAssigned time.Duration `json:"all_assigned_ns"` // every task ASSIGNED or later
	AllRunning  time.Duration `json:"all_running_ns"`  // every task RUNNING
	TasksPerSec float64       `json:"tasks_per_sec"`   // Tasks / AllRunning

	JoinProposals    uint64 `json:"join_proposals"`    // all managers' proposals while nodes joined and came up
	ServiceProposals uint64 `json:"service_proposals"` // proposals of all managers from CreateService to all RUNNING
	RaftEntries      uint64 `json:"raft_entries"`      // log entries applied in that span (max over managers)
	// LeaderChanges counts elections (rises of the highest Raft term any
	// manager reports) from the cluster's formation to the end;
	// ServiceLeaderChanges those from CreateService to all RUNNING.
	LeaderChanges        int    `json:"leader_changes"`
	ServiceLeaderChanges int    `json:"service_leader_changes"`
	FailedTasks          int    `json:"failed_tasks"` // FAILED/REJECTED tasks seen at the end
	APIRunning           uint64 `json:"api_running"`  // running_tasks from GetService at the end

	// The leader process at the end.
	LeaderIndex int     `json:"leader_index"`
	HeapInuse   uint64  `json:"heap_inuse_bytes"`  // leader, at all RUNNING, before GC
	HeapLive    uint64  `json:"heap_live_bytes"`   // leader, HeapAlloc after a forced GC
	GoSys       uint64  `json:"go_sys_bytes"`      // leader, memory the Go runtime obtained
	StackInuse  uint64  `json:"stack_inuse_bytes"` // leader, goroutine stacks, at all RUNNING
	Goroutines  int     `json:"goroutines"`        // leader, at all RUNNING
	GCCPU       float64 `json:"gc_cpu_fraction"`   // leader, share of CPU spent in GC since start

	ManagerProcs []ManagerResult `json:"manager_procs"`

	// The simulated nodes' process (this one).
	AgentsNice       int     `json:"agents_nice"`
	AgentsRSS        uint64  `json:"agents_rss_bytes"`
	AgentsPeakRSS    uint64  `json:"agents_peak_rss_bytes"`
	AgentsCPU        float64 `json:"agents_cpu_s"`
	AgentsServiceCPU float64 `json:"agents_service_cpu_s"`
}

// Leader returns the leader process's result (zero if unknown).
func (r Result) Leader() ManagerResult {
	for _, m := range r.ManagerProcs {
		if m.Leader {
			return m
		}
	}
	return ManagerResult{}
}

// counts is one poll of the leader's task table.
type counts struct {
	Total    int `json:"total"`
	Pending  int `json:"pending"`
	Assigned int `json:"assigned"` // ASSIGNED or later
	Running  int `json:"running"`
	Failed   int `json:"failed"`
}

var assignedOrLater = []shoalv1.TaskState{
	shoalv1.TaskState_TASK_STATE_ASSIGNED, shoalv1.TaskState_TASK_STATE_ACCEPTED,
	shoalv1.TaskState_TASK_STATE_PREPARING, shoalv1.TaskState_TASK_STATE_READY,
	shoalv1.TaskState_TASK_STATE_STARTING, shoalv1.TaskState_TASK_STATE_RUNNING,
}

var failedStates = []shoalv1.TaskState{
	shoalv1.TaskState_TASK_STATE_FAILED, shoalv1.TaskState_TASK_STATE_REJECTED,
}

// maxReplicas is the API's limit on one service's replicas.
const maxReplicas = 100000

// serviceSizes splits tasks into as few services of at most maxReplicas
// as it takes, of equal size (within one).
func serviceSizes(tasks int) []int {
	n := max(1, (tasks+maxReplicas-1)/maxReplicas)
	sizes := make([]int, n)
	for i := range sizes {
		sizes[i] = tasks / n
		if i < tasks%n {
			sizes[i]++
		}
	}
	return sizes
}

// createServices creates the benchmark's service, or, for more tasks than
// one service may have, the services serviceSizes says (a user would do
// the same). It returns their IDs.
func createServices(ctx context.Context, ctl shoalv1connect.ControlServiceClient, tasks int) ([]string, error) {
	sizes := serviceSizes(tasks)
	var ids []string
	for i, replicas := range sizes {
		name := "scale"
		if len(sizes) > 1 {
			name = fmt.Sprintf("scale-%d", i)
		}
		cr, err := ctl.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{Spec: &shoalv1.ServiceSpec{
			Name: name,
			Task: &shoalv1.TaskSpec{Runtime: &shoalv1.TaskSpec_Process{Process: &shoalv1.ProcessSpec{Command: []string{"sleep", "inf"}}}},
			Mode: &shoalv1.ServiceSpec_Replicated{Replicated: &shoalv1.ReplicatedMode{Replicas: uint64(replicas)}},
		}}))
		if err != nil {
			return nil, fmt.Errorf("create service %s: %w", name, err)
		}
		ids = append(ids, cr.Msg.GetService().GetId())
	}
	return ids, nil
}

// countTasks counts the tasks of the services (comma-separated IDs) and,
// over all tasks, those in each state.
func countTasks(st *store.Store, serviceIDs string) (counts, error) {
	var c counts
	err := st.View(func(tx store.ReadTx) error {
		for _, id := range strings.Split(serviceIDs, ",") {
			n, err := tx.Count(store.KindTask, store.ByService(id))
			if err != nil {
				return err
			}
			c.Total += n
		}
		var err error
		if c.Pending, err = tx.Count(store.KindTask, store.ByTaskState(shoalv1.TaskState_TASK_STATE_PENDING)); err != nil {
			return err
		}
		for _, s := range assignedOrLater {
			n, err := tx.Count(store.KindTask, store.ByTaskState(s))
			if err != nil {
				return err
			}
			c.Assigned += n
			if s == shoalv1.TaskState_TASK_STATE_RUNNING {
				c.Running = n
			}
		}
		for _, s := range failedStates {
			n, err := tx.Count(store.KindTask, store.ByTaskState(s))
			if err != nil {
				return err
			}
			c.Failed += n
		}
		return nil
	})
	return c, err
}

func readyWorkers(st *store.Store) (int, error) {
	ready := 0
	err := st.View(func(tx store.ReadTx) error {
		return tx.Range(store.KindNode, store.ByRole(shoalv1.NodeRole_NODE_ROLE_WORKER), func(o store.Object) bool {
			if o.(*shoalv1.Node).GetStatus().GetState() == shoalv1.NodeState_NODE_STATE_READY {
				ready++
			}
			return true
		})
	})
	return ready, err
}

// Run starts the managers (each in its own process), the simulated nodes
// (in this process, niced), creates the service, waits for every task to
// run and tears everything down.
//
// A run that fails after the service was created still returns what was
// measured: the milestones reached and every process's memory and CPU.
func Run(ctx context.Context, cfg Config) (res Result, err error) {
	cfg.defaults()
	res = Result{Managers: cfg.Managers, Nodes: cfg.Nodes, Tasks: cfg.Tasks, LeaderIndex: -1}
	if cfg.Nodes <= 0 || cfg.Tasks <= 0 {
		return res, errors.New("scale: nodes and tasks must be positive")
	}
	base := cfg.Dir
	if base == "" {
		d, err := os.MkdirTemp("", "shoal-scale-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		base = d
	}
	say := cfg.Progress
	start := time.Now()

	cl, err := startCluster(ctx, base, cfg.Managers, cfg.HeartbeatPeriod, cfg.TickInterval, cfg.ManagerLogs, cfg.ManagerMemoryLimit, cfg.ManagerGOGC)
	if err != nil {
		return res, err
	}
	defer cl.stop()
	li, err := cl.leader(ctx, 30*time.Second)
	if err != nil {
		return res, err
	}
	res.ClusterUp = time.Since(start)
	for _, m := range cl.ms {
		say(fmt.Sprintf("manager-%d pid %d, status and pprof on http://%s/", m.idx, m.cmd.Process.Pid, m.debug))
	}
	say(fmt.Sprintf("%d managers up in %v; leader manager-%d", cfg.Managers, res.ClusterUp.Round(time.Millisecond), li))

	if cfg.AgentsNice > 0 {
		nice, err := reniceSelf(cfg.AgentsNice)
		if err != nil {
			return res, fmt.Errorf("renice the simulated nodes' process: %w", err)
		}
		say(fmt.Sprintf("simulated nodes' process (pid %d) at nice %d", os.Getpid(), nice))
	}
	res.AgentsNice = readProc(os.Getpid()).Nice

	mon := newMonitor(cl, cfg.PollInterval)
	mon.poll(ctx)
	monCtx, stopMon := context.WithCancel(ctx)
	monDone := make(chan struct{})
	go func() { defer close(monDone); mon.run(monCtx) }()
	defer func() { stopMon(); <-monDone }()
	term0 := mon.snapshot().term

	admin, err := client.New(client.Options{DataDir: cl.ms[li].dir})
	if err != nil {
		return res, err
	}
	// Managers only manage: drain them so every task lands on a sim node.
	for _, m := range cl.ms {
		if _, err := admin.Control.UpdateNode(ctx, connect.NewRequest(&shoalv1.UpdateNodeRequest{
			Node: m.nodeID, Availability: shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN,
		})); err != nil {
			return res, fmt.Errorf("drain manager: %w", err)
		}
	}
	token, err := joinToken(ctx, cl.ms[li].dir, true)
	if err != nil {
		return res, err
	}
	addrs := cl.addrs(li)
	p0 := mon.snapshot().proposals

	t := time.Now()
	root, ids, err := joinWorkers(ctx, addrs, token, cfg.Nodes, cfg.JoinConcurrency)
	if err != nil {
		return res, err
	}
	res.Join = time.Since(t)
	say(fmt.Sprintf("%d workers joined in %v", cfg.Nodes, res.Join.Round(time.Millisecond)))

	t = time.Now()
	fl, err := startAgents(ctx, root, ids, addrs, cfg.MaxStartLatency, cfg.Logger)
	if err != nil {
		return res, err
	}
	defer fl.stop()
	for {
		li, err = cl.leader(ctx, 30*time.Second)
		if err != nil {
			return res, err
		}
		st, err := cl.status(ctx, li, "", true)
		if err != nil {
			return res, err
		}
		if st.ReadyWorkers == cfg.Nodes {
			break
		}
		if wait := max(cfg.Timeout, 2*time.Minute); time.Since(t) > wait {
			return res, fmt.Errorf("%w: %d of %d nodes READY after %v", ErrTimeout, st.ReadyWorkers, cfg.Nodes, wait)
		}
		if err := sleepCtx(ctx, cfg.PollInterval); err != nil {
			return res, err
		}
	}
	res.NodesReady = time.Since(t)
	mon.poll(ctx)
	s1 := mon.snapshot()
	res.JoinProposals = s1.proposals - p0
	say(fmt.Sprintf("%d nodes READY in %v (%d proposals for join + sessions)", cfg.Nodes, res.NodesReady.Round(time.Millisecond), res.JoinProposals))

	cpu0 := make([]time.Duration, len(cl.ms))
	for i, m := range cl.ms {
		cpu0[i] = readProc(m.cmd.Process.Pid).CPU
	}
	agentsCPU0 := readProc(os.Getpid()).CPU
	// measure records every process's memory and CPU; a run that fails
	// in the service phase (timeout, lost manager) is measured too.
	measure := func(leader int) {
		if res.ManagerProcs != nil {
			return
		}
		mon.poll(context.Background())
		sn := mon.snapshot()
		res.LeaderIndex = leader
		for i, m := range cl.ms {
			pid := m.cmd.Process.Pid
			ps := readProc(pid)
			res.ManagerProcs = append(res.ManagerProcs, ManagerResult{
				Index: i, NodeID: m.nodeID, PID: pid, Leader: i == leader,
				RSS: ps.RSS, PeakRSS: ps.PeakRSS, CPU: ps.CPU.Seconds(), ServiceCPU: (ps.CPU - cpu0[i]).Seconds(),
				HeapInuse: sn.lastHeap[i], PeakHeap: sn.peakHeap[i], SandboxRSS: childrenRSS(pid),
			})
		}
		ap := readProc(os.Getpid())
		res.AgentsRSS, res.AgentsPeakRSS, res.AgentsCPU, res.AgentsServiceCPU = ap.RSS, ap.PeakRSS, ap.CPU.Seconds(), (ap.CPU - agentsCPU0).Seconds()
		res.LeaderChanges, res.ServiceLeaderChanges = int(sn.term-term0), int(sn.term-s1.term)
	}
	defer func() { measure(mon.snapshot().leader) }()
	profiling := false
	if cfg.LeaderCPUProfile != "" {
		p, err := filepath.Abs(cfg.LeaderCPUProfile)
		if err == nil {
			err = cl.get(ctx, li, "/cpuprofile/start?path="+url.QueryEscape(p), nil)
		}
		if err != nil {
			return res, fmt.Errorf("leader cpu profile: %w", err)
		}
		profiling = true
		say(fmt.Sprintf("manager-%d (leader) profiles the service phase into %s", li, p))
	}
	profLeader := li
	cfg.ServicePhase(true)
	phaseDone := false
	endPhase := func() {
		if phaseDone {
			return
		}
		phaseDone = true
		cfg.ServicePhase(false)
		if profiling {
			if err := cl.get(context.Background(), profLeader, "/cpuprofile/stop", nil); err != nil {
				say(fmt.Sprintf("leader cpu profile: %v", err))
			}
		}
	}
	defer endPhase()
	t0 := time.Now()
	svcIDs, err := createServices(ctx, admin.Control, cfg.Tasks)
	if err != nil {
		return res, err
	}
	res.CreateCall = time.Since(t0)
	svcID := strings.Join(svcIDs, ",")

	// Every manager tracks the milestones in its own process (normal
	// priority), counting while it leads; this (niced) process only polls.
	for i := range cl.ms {
		q := url.Values{"svc": {svcID}, "tasks": {fmt.Sprint(cfg.Tasks)}, "every": {cfg.PollInterval.String()}}
		if err := cl.get(ctx, i, "/track?"+q.Encode(), nil); err != nil {
			return res, fmt.Errorf("start tracking: %w", err)
		}
	}
	var best milestones
	merge := func(m *milestones) {
		if m == nil {
			return
		}
		for _, p := range [][2]*int64{{&best.Created, &m.Created}, {&best.Pending, &m.Pending}, {&best.Assigned, &m.Assigned}, {&best.Running, &m.Running}} {
			if *p[1] != 0 && (*p[0] == 0 || *p[1] < *p[0]) {
				*p[0] = *p[1]
			}
		}
		if m.Running != 0 {
			best.Failed = m.Failed
		}
	}
	since := func(ns int64) time.Duration {
		if ns == 0 {
			return 0
		}
		return time.Duration(ns - t0.UnixNano())
	}
	setMilestones := func() {
		res.AllCreated, res.AllPending, res.AllAssigned, res.AllRunning = since(best.Created), since(best.Pending), since(best.Assigned), since(best.Running)
		res.FailedTasks = best.Failed
	}
	var last counts
	var said milestones
	for {
		st, err := cl.status(ctx, li, "", false)
		if err == nil && !st.Leader {
			err = errNoLeader
		}
		if err != nil {
			if errors.Is(err, errManagerExited) {
				return res, err
			}
			nl, lerr := cl.leader(ctx, 30*time.Second)
			if lerr != nil {
				return res, fmt.Errorf("%w (after %v)", lerr, err)
			}
			if nl != li {
				say(fmt.Sprintf("leader is now manager-%d", nl))
			}
			li = nl
			continue
		}
		merge(st.Milestones)
		if m := st.Milestones; m != nil && m.LastAt != 0 && m.Last != last {
			last = m.Last
			c := m.Last
			say(fmt.Sprintf("t=%6.1fs created=%d pending=%d assigned+=%d running=%d failed=%d", since(m.LastAt).Seconds(), c.Total, c.Pending, c.Assigned, c.Running, c.Failed))
		}
		for _, ph := range []struct {
			name      string
			got, told *int64
		}{
			{fmt.Sprintf("all %d tasks created", cfg.Tasks), &best.Created, &said.Created},
			{"all tasks allocated (PENDING or later)", &best.Pending, &said.Pending},
			{"all tasks assigned", &best.Assigned, &said.Assigned},
		} {
			if *ph.got != 0 && *ph.told == 0 {
				*ph.told = *ph.got
				say(fmt.Sprintf("%s at %v", ph.name, since(*ph.got).Round(time.Millisecond)))
			}
		}
		if best.Running != 0 {
			break
		}
		if el := time.Since(t0); el > cfg.Timeout {
			setMilestones()
			c := last
			return res, fmt.Errorf("%w: %d of %d tasks RUNNING after %v (created %d, assigned %d, failed %d)",
				ErrTimeout, c.Running, cfg.Tasks, cfg.Timeout, c.Total, c.Assigned, c.Failed)
		}
		if err := sleepCtx(ctx, cfg.PollInterval); err != nil {
			return res, err
		}
	}
	setMilestones()
	endPhase()
	res.TasksPerSec = float64(cfg.Tasks) / res.AllRunning.Seconds()
	mon.poll(ctx)
	s2 := mon.snapshot()
	res.ServiceProposals, res.RaftEntries = s2.proposals-s1.proposals, s2.applied-s1.applied
	res.LeaderChanges, res.ServiceLeaderChanges = int(s2.term-term0), int(s2.term-s1.term)
	if res.LeaderChanges > 0 {
		say(fmt.Sprintf("%d elections after the cluster formed (%d in the service phase)", res.LeaderChanges, res.ServiceLeaderChanges))
	}
	measure(li)
	var ms memStatus
	if err := cl.get(ctx, li, "/memstats", &ms); err != nil {
		return res, fmt.Errorf("leader memstats: %w", err)
	}
	res.HeapInuse, res.HeapLive, res.GoSys, res.GCCPU, res.Goroutines = ms.HeapInuse, ms.HeapLive, ms.GoSys, ms.GCCPU, ms.Goroutines
	res.StackInuse = ms.StackInuse

	for _, id := range svcIDs {
		gs, err := admin.Control.GetService(ctx, connect.NewRequest(&shoalv1.GetServiceRequest{Service: id}))
		if err != nil {
			return res, fmt.Errorf("get service: %w", err)
		}
		res.APIRunning += gs.Msg.GetStatus().GetRunningTasks()
	}
	if got := fl.simTasks(); got < cfg.Tasks {
		return res, fmt.Errorf("scale: the sim backends hold %d tasks, want %d", got, cfg.Tasks)
	}
	if err := s2.err; err != nil {
		return res, err
	}
	return res, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// procMem returns VmRSS and VmHWM of pid in bytes (0 where unknown).
func procMem(pid int) (rss, hwm uint64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = v << 10
		case "VmHWM:":
			hwm = v << 10
		}
	}
	return rss, hwm
}

// childrenRSS sums VmRSS over pid's child processes.
func childrenRSS(pid int) uint64 {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	seen := map[int]bool{}
	var sum uint64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			c, err := strconv.Atoi(f)
			if err != nil || seen[c] {
				continue
			}
			seen[c] = true
			rss, _ := procMem(c)
			sum += rss
		}
	}
	return sum
}
