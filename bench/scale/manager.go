package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	rpprof "runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/shoal-project/shoal/core/node"
	"github.com/shoal-project/shoal/internal/memlimit"
)

// managerEnv names the hidden role of this binary: when it is set (to a
// JSON managerArgs), the process runs one manager and nothing else. The
// benchmark re-executes itself (os.Executable) with it, so the managers run
// in processes of their own, apart from the simulated nodes.
const managerEnv = "SHOAL_SCALE_MANAGER"

// managerArgs is what a manager process is started with.
type managerArgs struct {
	Index     int           `json:"index"`
	Dir       string        `json:"dir"`
	Listen    string        `json:"listen"`
	Debug     string        `json:"debug"` // loopback address of the status/pprof endpoint
	Heartbeat time.Duration `json:"heartbeat"`
	Tick      time.Duration `json:"tick"`
	Token     string        `json:"token,omitempty"` // manager join token; "" for the first (Init)
	JoinAddr  string        `json:"join_addr,omitempty"`
	Verbose   bool          `json:"verbose,omitempty"`
	// MemoryLimit is the soft memory limit, as the daemon's --memory-limit.
	MemoryLimit string `json:"memory_limit,omitempty"`
	// GOGC, when not 0, is the process's GOGC.
	GOGC int `json:"gogc,omitempty"`
}

// managerStatus is one manager's answer to GET /status.
type managerStatus struct {
	NodeID    string `json:"node_id"`
	Leader    bool   `json:"leader"`
	State     string `json:"state"`
	Term      uint64 `json:"term"`
	Applied   uint64 `json:"applied"`
	Proposals uint64 `json:"proposals"`
	Members   int    `json:"members"`
	// HeapInuse is the Go heap in use (runtime/metrics, no stop-the-world).
	HeapInuse uint64 `json:"heap_inuse_bytes"`
	// Counts are the service's task states (leader, ?svc= only).
	Counts *counts `json:"counts,omitempty"`
	// ReadyWorkers is the number of READY workers (leader, ?workers=1 only).
	ReadyWorkers int `json:"ready_workers"`
	// Milestones are the tracker's (see /track), if one runs.
	Milestones *milestones `json:"milestones,omitempty"`
}

// milestones are the wall-clock times (Unix ns) at which this manager,
// while leading, first counted every task of the tracked service created,
// allocated (PENDING or later), ASSIGNED or later, and RUNNING. They are
// taken in the manager's own process, which runs at normal priority, so a
// starved (niced) benchmark process does not delay them.
type milestones struct {
	Created  int64 `json:"created_unix_ns,omitempty"`
	Pending  int64 `json:"pending_unix_ns,omitempty"`
	Assigned int64 `json:"assigned_unix_ns,omitempty"`
	Running  int64 `json:"running_unix_ns,omitempty"`
	Failed   int   `json:"failed"` // FAILED/REJECTED when all ran
	// Last is the latest count and when it was taken (Unix ns).
	Last   counts `json:"last"`
	LastAt int64  `json:"last_unix_ns"`
}

// tracker counts one service's tasks every interval while this manager
// leads and records the milestones. Its goroutine owns the counting; mu
// guards the milestones it publishes.
type tracker struct {
	mu sync.Mutex
	ms milestones
}

func (tr *tracker) get() milestones {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.ms
}

func (tr *tracker) run(ctx context.Context, n *node.Node, svc string, tasks int, every time.Duration) {
	for ctx.Err() == nil {
		if m := n.Manager(); m != nil && m.Raft().IsLeader() {
			if c, err := countTasks(m.Store(), svc); err == nil {
				now := time.Now().UnixNano()
				tr.mu.Lock()
				tr.ms.Last, tr.ms.LastAt = c, now
				set := func(v *int64, ok bool) {
					if ok && *v == 0 {
						*v = now
					}
				}
				set(&tr.ms.Created, c.Total >= tasks)
				set(&tr.ms.Pending, c.Pending+c.Assigned >= tasks)
				set(&tr.ms.Assigned, c.Assigned >= tasks)
				set(&tr.ms.Running, c.Running >= tasks)
				done := tr.ms.Running != 0
				if done {
					tr.ms.Failed = c.Failed
				}
				tr.mu.Unlock()
				if done {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(every):
		}
	}
}

// memStatus is GET /memstats: a full runtime.MemStats read, then a GC.
type memStatus struct {
	HeapInuse  uint64  `json:"heap_inuse_bytes"`
	HeapLive   uint64  `json:"heap_live_bytes"`
	GoSys      uint64  `json:"go_sys_bytes"`
	StackInuse uint64  `json:"stack_inuse_bytes"`
	GCCPU      float64 `json:"gc_cpu_fraction"`
	Goroutines int     `json:"goroutines"`
}

// maybeRunManager runs a manager and exits if this process was started as
// one; otherwise it returns.
func maybeRunManager() {
	v := os.Getenv(managerEnv)
	if v == "" {
		return
	}
	var a managerArgs
	if err := json.Unmarshal([]byte(v), &a); err != nil {
		fmt.Fprintf(os.Stderr, "scale manager: bad %s: %v\n", managerEnv, err)
		os.Exit(2)
	}
	if err := runManager(a); err != nil {
		fmt.Fprintf(os.Stderr, "scale manager %d: %v\n", a.Index, err)
		os.Exit(1)
	}
	os.Exit(0)
}

var heapSamples = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/unused:bytes"},
}

var heapMu sync.Mutex

func heapInuse() uint64 {
	heapMu.Lock()
	defer heapMu.Unlock()
	metrics.Read(heapSamples)
	var sum uint64
	for _, s := range heapSamples {
		if s.Value.Kind() == metrics.KindUint64 {
			sum += s.Value.Uint64()
		}
	}
	return sum
}

// runManager is the body of a manager process: Init or Join, then serve
// the status endpoint until SIGTERM.
func runManager(a managerArgs) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// An orphan (the benchmark died) stops too.
	parent := os.Getppid()
	go func() {
		for ctx.Err() == nil && os.Getppid() == parent {
			time.Sleep(time.Second)
		}
		stop()
	}()
	// The managers take the daemon's default (auto) unless told otherwise;
	// a GOMEMLIMIT in the environment, which this process inherits from
	// the simulated nodes' process, is not theirs.
	_ = os.Unsetenv("GOMEMLIMIT")
	if _, _, err := memlimit.Apply(a.MemoryLimit); err != nil {
		return fmt.Errorf("memory limit: %w", err)
	}
	if a.GOGC != 0 {
		debug.SetGCPercent(a.GOGC)
	}
	log := slog.New(slog.DiscardHandler)
	if a.Verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	cfg := node.Config{
		DataDir: a.Dir, ListenAddr: a.Listen, Hostname: fmt.Sprintf("manager-%d", a.Index),
		Backend: "sim", HeartbeatPeriod: a.Heartbeat, TickInterval: a.Tick, Availability: "drain",
		Logger: log.With("manager", a.Index),
	}
	var (
		n   *node.Node
		err error
	)
	if a.Token == "" {
		n, err = node.Init(ctx, cfg)
	} else {
		n, err = node.Join(ctx, cfg, a.Token, a.JoinAddr)
	}
	if err != nil {
		return err
	}
	defer n.Stop()

	l, err := net.Listen("tcp", a.Debug)
	if err != nil {
		return fmt.Errorf("debug listener: %w", err)
	}
	srv := &http.Server{Handler: managerMux(ctx, n), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	<-ctx.Done()
	return nil
}

// managerMux serves the benchmark's view of one manager: /status (Raft
// state, proposals, heap, and on the leader the task counts), /memstats,
// /cpuprofile/start?path= and /cpuprofile/stop, and net/http/pprof.
func managerMux(ctx context.Context, n *node.Node) *http.ServeMux {
	mux := http.NewServeMux()
	var trMu sync.Mutex
	var tr *tracker
	// /track?svc=ID&tasks=N&every=DUR starts the milestone tracker (once).
	mux.HandleFunc("/track", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		tasks, err1 := strconv.Atoi(q.Get("tasks"))
		every, err2 := time.ParseDuration(q.Get("every"))
		if q.Get("svc") == "" || err1 != nil || err2 != nil || every <= 0 {
			http.Error(w, "want svc, tasks and every", http.StatusBadRequest)
			return
		}
		trMu.Lock()
		defer trMu.Unlock()
		if tr == nil {
			tr = &tracker{}
			go tr.run(ctx, n, q.Get("svc"), tasks, every)
		}
	})
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		m := n.Manager()
		if m == nil {
			http.Error(w, "no manager", http.StatusServiceUnavailable)
			return
		}
		rs := m.Raft().Status()
		st := managerStatus{
			NodeID: n.Info().NodeID, Leader: m.Raft().IsLeader(), State: rs.State, Term: rs.Term,
			Applied: m.Store().AppliedIndex(), Proposals: m.Store().ProposalCount(),
			Members: len(m.Raft().Members()), HeapInuse: heapInuse(),
		}
		trMu.Lock()
		if tr != nil {
			ms := tr.get()
			st.Milestones = &ms
		}
		trMu.Unlock()
		if st.Leader {
			if svc := r.URL.Query().Get("svc"); svc != "" {
				c, err := countTasks(m.Store(), svc)
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				st.Counts = &c
			}
			if r.URL.Query().Get("workers") != "" {
				c, err := readyWorkers(m.Store())
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				st.ReadyWorkers = c
			}
		}
		writeJSON(w, st)
	})
	mux.HandleFunc("/memstats", func(w http.ResponseWriter, r *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		out := memStatus{HeapInuse: ms.HeapInuse, GoSys: ms.Sys, StackInuse: ms.StackInuse, GCCPU: ms.GCCPUFraction, Goroutines: runtime.NumGoroutine()}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		out.HeapLive = ms.HeapAlloc
		writeJSON(w, out)
	})
	var profMu sync.Mutex
	var profFile *os.File
	mux.HandleFunc("/cpuprofile/start", func(w http.ResponseWriter, r *http.Request) {
		profMu.Lock()
		defer profMu.Unlock()
		if profFile != nil {
			http.Error(w, "already profiling", http.StatusConflict)
			return
		}
		f, err := os.Create(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := rpprof.StartCPUProfile(f); err != nil {
			f.Close()
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		profFile = f
	})
	mux.HandleFunc("/cpuprofile/stop", func(w http.ResponseWriter, r *http.Request) {
		profMu.Lock()
		defer profMu.Unlock()
		if profFile == nil {
			return
		}
		rpprof.StopCPUProfile()
		err := profFile.Close()
		profFile = nil
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// errManagerExited is returned when a manager process ends before the run.
var errManagerExited = errors.New("scale: a manager process exited")
