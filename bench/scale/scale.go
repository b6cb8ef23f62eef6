package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
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
	// Timeout bounds the wait for all tasks RUNNING (default 10m).
	Timeout time.Duration
	// PollInterval is how often task states are counted (default 250ms).
	PollInterval time.Duration
	Logger       *slog.Logger
	// Progress, if set, gets one line per poll and per phase.
	Progress func(string)
	// ServicePhase, if set, is called with true just before CreateService
	// and with false once every task runs (or the wait fails): main uses it
	// to profile that phase alone.
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

	JoinProposals    uint64 `json:"join_proposals"`    // leader's proposals while nodes joined and came up
	ServiceProposals uint64 `json:"service_proposals"` // proposals of all managers from CreateService to all RUNNING
	RaftEntries      uint64 `json:"raft_entries"`      // log entries applied in that span (max over managers)
	LeaderChanges    int    `json:"leader_changes"`    // during the service phase
	FailedTasks      int    `json:"failed_tasks"`      // FAILED/REJECTED tasks seen at the end
	APIRunning       uint64 `json:"api_running"`       // running_tasks from GetService at the end

	HeapInuse   uint64  `json:"heap_inuse_bytes"`   // at all RUNNING, before GC
	HeapLive    uint64  `json:"heap_live_bytes"`    // HeapAlloc after a forced GC
	GoSys       uint64  `json:"go_sys_bytes"`       // memory obtained from the OS by the Go runtime
	RSS         uint64  `json:"rss_bytes"`          // this process, at all RUNNING
	PeakRSS     uint64  `json:"peak_rss_bytes"`     // VmHWM of this process
	ChildrenRSS uint64  `json:"children_rss_bytes"` // plugin sandboxes (child processes)
	Goroutines  int     `json:"goroutines"`         // at all RUNNING
	GCCPU       float64 `json:"gc_cpu_fraction"`    // share of CPU spent in GC since start
}

// counts is one poll of the leader's task table.
type counts struct {
	total, pending, assigned, running, failed int
}

var assignedOrLater = []shoalv1.TaskState{
	shoalv1.TaskState_TASK_STATE_ASSIGNED, shoalv1.TaskState_TASK_STATE_ACCEPTED,
	shoalv1.TaskState_TASK_STATE_PREPARING, shoalv1.TaskState_TASK_STATE_READY,
	shoalv1.TaskState_TASK_STATE_STARTING, shoalv1.TaskState_TASK_STATE_RUNNING,
}

var failedStates = []shoalv1.TaskState{
	shoalv1.TaskState_TASK_STATE_FAILED, shoalv1.TaskState_TASK_STATE_REJECTED,
}

func countTasks(st *store.Store, serviceID string) (counts, error) {
	var c counts
	err := st.View(func(tx store.ReadTx) error {
		var err error
		if c.total, err = tx.Count(store.KindTask, store.ByService(serviceID)); err != nil {
			return err
		}
		if c.pending, err = tx.Count(store.KindTask, store.ByTaskState(shoalv1.TaskState_TASK_STATE_PENDING)); err != nil {
			return err
		}
		for _, s := range assignedOrLater {
			n, err := tx.Count(store.KindTask, store.ByTaskState(s))
			if err != nil {
				return err
			}
			c.assigned += n
			if s == shoalv1.TaskState_TASK_STATE_RUNNING {
				c.running = n
			}
		}
		for _, s := range failedStates {
			n, err := tx.Count(store.KindTask, store.ByTaskState(s))
			if err != nil {
				return err
			}
			c.failed += n
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

// Run starts the cluster and the simulated nodes, creates the service, waits
// for every task to run and tears everything down.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg.defaults()
	res := Result{Managers: cfg.Managers, Nodes: cfg.Nodes, Tasks: cfg.Tasks}
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

	cl, err := startCluster(ctx, base, cfg.Managers, cfg.HeartbeatPeriod, cfg.TickInterval, cfg.Logger)
	if err != nil {
		return res, err
	}
	defer cl.stop()
	leader, li, err := cl.leader(ctx, 30*time.Second)
	if err != nil {
		return res, err
	}
	res.ClusterUp = time.Since(start)
	say(fmt.Sprintf("%d managers up in %v; leader manager-%d", cfg.Managers, res.ClusterUp.Round(time.Millisecond), li))

	admin, err := client.New(client.Options{DataDir: cl.dirs[li]})
	if err != nil {
		return res, err
	}
	// Managers only manage: drain them so every task lands on a sim node.
	for _, n := range cl.nodes {
		if _, err := admin.Control.UpdateNode(ctx, connect.NewRequest(&shoalv1.UpdateNodeRequest{
			Node: n.Info().NodeID, Availability: shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN,
		})); err != nil {
			return res, fmt.Errorf("drain manager: %w", err)
		}
	}
	token, err := joinToken(ctx, cl.dirs[li], true)
	if err != nil {
		return res, err
	}
	addrs := cl.addrs(leader)
	lst := leader.Manager().Store()
	p0 := lst.ProposalCount()

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
		n, err := readyWorkers(lst)
		if err != nil {
			return res, err
		}
		if n == cfg.Nodes {
			break
		}
		if time.Since(t) > cfg.Timeout {
			return res, fmt.Errorf("%w: %d of %d nodes READY after %v", ErrTimeout, n, cfg.Nodes, cfg.Timeout)
		}
		if err := sleepCtx(ctx, cfg.PollInterval); err != nil {
			return res, err
		}
	}
	res.NodesReady = time.Since(t)
	res.JoinProposals = lst.ProposalCount() - p0
	say(fmt.Sprintf("%d nodes READY in %v (%d proposals for join + sessions)", cfg.Nodes, res.NodesReady.Round(time.Millisecond), res.JoinProposals))

	p1, a1 := cl.proposals()
	cfg.ServicePhase(true)
	phaseDone := false
	endPhase := func() {
		if !phaseDone {
			phaseDone = true
			cfg.ServicePhase(false)
		}
	}
	defer endPhase()
	t0 := time.Now()
	cr, err := admin.Control.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{Spec: &shoalv1.ServiceSpec{
		Name: "scale",
		Task: &shoalv1.TaskSpec{Runtime: &shoalv1.TaskSpec_Process{Process: &shoalv1.ProcessSpec{Command: []string{"sleep", "inf"}}}},
		Mode: &shoalv1.ServiceSpec_Replicated{Replicated: &shoalv1.ReplicatedMode{Replicas: uint64(cfg.Tasks)}},
	}}))
	if err != nil {
		return res, fmt.Errorf("create service: %w", err)
	}
	res.CreateCall = time.Since(t0)
	svcID := cr.Msg.GetService().GetId()

	cur := leader
	var last counts
	for {
		if !cur.Manager().Raft().IsLeader() {
			nl, _, err := cl.leader(ctx, 30*time.Second)
			if err != nil {
				return res, err
			}
			if nl != cur {
				res.LeaderChanges++
				say(fmt.Sprintf("leader changed to %s", nl.Info().NodeID))
				cur = nl
			}
		}
		c, err := countTasks(cur.Manager().Store(), svcID)
		if err != nil {
			return res, err
		}
		el := time.Since(t0)
		if res.AllCreated == 0 && c.total >= cfg.Tasks {
			res.AllCreated = el
			say(fmt.Sprintf("all %d tasks created at %v", cfg.Tasks, el.Round(time.Millisecond)))
		}
		if res.AllPending == 0 && c.pending+c.assigned >= cfg.Tasks {
			res.AllPending = el
			say(fmt.Sprintf("all tasks allocated (PENDING or later) at %v", el.Round(time.Millisecond)))
		}
		if res.AllAssigned == 0 && c.assigned >= cfg.Tasks {
			res.AllAssigned = el
			say(fmt.Sprintf("all tasks assigned at %v", el.Round(time.Millisecond)))
		}
		if c != last {
			say(fmt.Sprintf("t=%6.1fs created=%d pending=%d assigned+=%d running=%d failed=%d", el.Seconds(), c.total, c.pending, c.assigned, c.running, c.failed))
			last = c
		}
		if c.running >= cfg.Tasks {
			res.AllRunning = el
			res.FailedTasks = c.failed
			break
		}
		if el > cfg.Timeout {
			return res, fmt.Errorf("%w: %d of %d tasks RUNNING after %v (created %d, assigned %d, failed %d)",
				ErrTimeout, c.running, cfg.Tasks, cfg.Timeout, c.total, c.assigned, c.failed)
		}
		if err := sleepCtx(ctx, cfg.PollInterval); err != nil {
			return res, err
		}
	}
	endPhase()
	res.TasksPerSec = float64(cfg.Tasks) / res.AllRunning.Seconds()
	p2, a2 := cl.proposals()
	res.ServiceProposals, res.RaftEntries = p2-p1, a2-a1
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapInuse, res.GoSys, res.Goroutines, res.GCCPU = ms.HeapInuse, ms.Sys, runtime.NumGoroutine(), ms.GCCPUFraction
	res.RSS, res.PeakRSS = procMem(os.Getpid())
	res.ChildrenRSS = childrenRSS(os.Getpid())
	runtime.GC()
	runtime.ReadMemStats(&ms)
	res.HeapLive = ms.HeapAlloc

	gs, err := admin.Control.GetService(ctx, connect.NewRequest(&shoalv1.GetServiceRequest{Service: svcID}))
	if err != nil {
		return res, fmt.Errorf("get service: %w", err)
	}
	res.APIRunning = gs.Msg.GetStatus().GetRunningTasks()
	if got := fl.simTasks(); got < cfg.Tasks {
		return res, fmt.Errorf("scale: the sim backends hold %d tasks, want %d", got, cfg.Tasks)
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
