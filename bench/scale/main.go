package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // served on -pprof only
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoal-project/shoal/core/node"
	"github.com/shoal-project/shoal/internal/memlimit"
)

func main() {
	node.ReexecHooks()
	maybeRunManager()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// sweepPoints are the sizes of -sweep: doubling nodes and tasks.
const sweepPoints = "600x25000,1200x50000,2400x100000,5000x200000"

// point is one cluster size.
type point struct{ nodes, tasks int }

// errBadPoints is returned for a malformed -points list.
var errBadPoints = errors.New("scale: -points wants NODESxTASKS[,NODESxTASKS...], e.g. 600x25000,1200x50000")

func parsePoints(s string) ([]point, error) {
	var out []point
	for _, f := range strings.Split(s, ",") {
		n, t, ok := strings.Cut(strings.TrimSpace(f), "x")
		nodes, err1 := strconv.Atoi(n)
		tasks, err2 := strconv.Atoi(t)
		if !ok || err1 != nil || err2 != nil || nodes <= 0 || tasks <= 0 {
			return nil, fmt.Errorf("%w: bad point %q", errBadPoints, f)
		}
		out = append(out, point{nodes, tasks})
	}
	return out, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	fs.IntVar(&cfg.Managers, "managers", 3, "managers (each its own process)")
	fs.IntVar(&cfg.Nodes, "nodes", 2400, "simulated worker nodes")
	fs.IntVar(&cfg.Tasks, "tasks", 100000, "replicas of the service")
	points := fs.String("points", "", "run these sizes in sequence instead of -nodes/-tasks: NODESxTASKS,... (e.g. "+sweepPoints+")")
	sweep := fs.Bool("sweep", false, "run the points "+sweepPoints)
	pngPath := fs.String("png", "", "with -points/-sweep: write a chart of create->all RUNNING and leader RSS against cluster size to this PNG")
	jsonPath := fs.String("json-out", "", "also write the results as JSON to this file")
	from := fs.String("from", "", "run nothing: read results from these -json-out files (comma-separated, in order) and print the sweep table (and -png chart) of them all")
	fs.StringVar(&cfg.Dir, "dir", "", "base dir for the managers' data (default: a temp dir, removed)")
	fs.DurationVar(&cfg.HeartbeatPeriod, "heartbeat", 5*time.Second, "cluster heartbeat period")
	fs.DurationVar(&cfg.TickInterval, "tick", 0, "managers' Raft tick interval, election after 10 ticks (0: core/raft default, 100ms)")
	fs.DurationVar(&cfg.MaxStartLatency, "start-latency", 50*time.Millisecond, "sim start latency spread over [0, this] across nodes")
	fs.IntVar(&cfg.JoinConcurrency, "join-concurrency", 32, "nodes joining at once")
	fs.StringVar(&cfg.ManagerMemoryLimit, "manager-memory-limit", memlimit.Auto, "each manager's soft memory limit, as shoal's daemon --memory-limit (a size, none, or auto: the daemon's default)")
	fs.IntVar(&cfg.ManagerGOGC, "manager-gogc", 0, "each manager's GOGC (0: the Go default, 100, or $GOGC)")
	fs.IntVar(&cfg.AgentsNice, "nice", 10, "nice value of the simulated nodes' process (this one) once the managers run (0: unchanged)")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Minute, "give up waiting for RUNNING after this")
	fs.DurationVar(&cfg.PollInterval, "poll", 250*time.Millisecond, "task state poll interval")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	verbose := fs.Bool("v", false, "log warnings and errors of the agents to stderr and of the managers to their manager.log")
	cpuProfile := fs.String("cpuprofile", "", "the leader process writes a CPU profile of the service phase (CreateService to all RUNNING) to this file")
	agentsProfile := fs.String("agents-cpuprofile", "", "write a CPU profile of the simulated nodes' process in the service phase to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile of the simulated nodes' process at the end to this file")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof of the simulated nodes' process on this loopback address (the managers' are printed at start)")
	mutexFraction := fs.Int("mutexprofile-fraction", 0, "runtime.SetMutexProfileFraction rate for -pprof (0: off)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *from != "" {
		return fromFiles(*from, *pngPath, *asJSON, stdout, stderr)
	}
	pts := []point{{cfg.Nodes, cfg.Tasks}}
	if *sweep && *points == "" {
		*points = sweepPoints
	}
	if *points != "" {
		var err error
		if pts, err = parsePoints(*points); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
	}
	if *pprofAddr != "" {
		runtime.SetMutexProfileFraction(*mutexFraction)
		srv := &http.Server{Addr: *pprofAddr, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.ListenAndServe() }()
		defer srv.Close()
	}
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		cfg.ManagerLogs = true
	}
	cfg.LeaderCPUProfile = *cpuProfile
	if *agentsProfile != "" {
		f, err := os.Create(*agentsProfile)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		defer f.Close()
		cfg.ServicePhase = func(start bool) {
			if !start {
				pprof.StopCPUProfile()
				return
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintln(stderr, "agents-cpuprofile:", err)
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var results []Result
	var runErr error
	for i, p := range pts {
		c := cfg
		c.Nodes, c.Tasks = p.nodes, p.tasks
		if !*quiet {
			start := time.Now()
			c.Progress = func(s string) {
				fmt.Fprintf(stderr, "[%dx%d %7.1fs] %s\n", p.nodes, p.tasks, time.Since(start).Seconds(), s)
			}
		}
		if len(pts) > 1 && c.Dir != "" {
			c.Dir = fmt.Sprintf("%s/%d-%dx%d", cfg.Dir, i, p.nodes, p.tasks)
		}
		if len(pts) > 1 && i > 0 {
			c.LeaderCPUProfile, c.ServicePhase = "", nil // profiles are of the first point only
		}
		res, err := Run(ctx, c)
		results = append(results, res)
		if err != nil {
			runErr = fmt.Errorf("%dx%d: %w", p.nodes, p.tasks, err)
			break
		}
	}
	if *memProfile != "" {
		if f, ferr := os.Create(*memProfile); ferr == nil {
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
	if *jsonPath != "" {
		if err := writeJSONFile(*jsonPath, results); err != nil {
			fmt.Fprintln(stderr, "scale:", err)
			return 1
		}
	}
	switch {
	case *asJSON && len(pts) == 1:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(results[0])
	case *asJSON:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(results)
	case len(pts) == 1:
		printTable(stdout, results[0])
	default:
		printSweep(stdout, results)
	}
	if *pngPath != "" && len(results) > 0 {
		if err := writeChart(*pngPath, results); err != nil {
			fmt.Fprintln(stderr, "scale: chart:", err)
			return 1
		}
	}
	if runErr != nil {
		fmt.Fprintln(stderr, "scale:", runErr)
		return 1
	}
	return 0
}

// fromFiles prints the sweep table (and chart) of results read from files
// written by -json-out, so points run one at a time combine into one sweep.
func fromFiles(list, pngPath string, asJSON bool, stdout, stderr io.Writer) int {
	var all []Result
	for _, path := range strings.Split(list, ",") {
		b, err := os.ReadFile(strings.TrimSpace(path))
		if err != nil {
			fmt.Fprintln(stderr, "scale:", err)
			return 1
		}
		var rs []Result
		if err := json.Unmarshal(b, &rs); err != nil {
			fmt.Fprintf(stderr, "scale: %s: %v\n", path, err)
			return 1
		}
		all = append(all, rs...)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(all)
	} else {
		printSweep(stdout, all)
	}
	if pngPath != "" {
		if err := writeChart(pngPath, all); err != nil {
			fmt.Fprintln(stderr, "scale: chart:", err)
			return 1
		}
	}
	return 0
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(time.Millisecond).String()
}

func printTable(w io.Writer, r Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rows := [][2]string{
		{"managers / nodes / tasks", fmt.Sprintf("%d / %d / %d", r.Managers, r.Nodes, r.Tasks)},
		{"cluster up", dur(r.ClusterUp)},
		{"nodes joined (certs issued)", dur(r.Join)},
		{"nodes READY after agent start", dur(r.NodesReady)},
		{"proposals (join + sessions)", fmt.Sprint(r.JoinProposals)},
		{"CreateService call", dur(r.CreateCall)},
		{"create -> all tasks created", dur(r.AllCreated)},
		{"create -> all allocated (PENDING+)", dur(r.AllPending)},
		{"create -> all ASSIGNED", dur(r.AllAssigned)},
		{"create -> all RUNNING", dur(r.AllRunning)},
		{"ASSIGNED -> RUNNING", dur(max(0, r.AllRunning-r.AllAssigned))},
		{"tasks/s to RUNNING", fmt.Sprintf("%.0f", r.TasksPerSec)}, // 0 when not all ran
		{"proposals, all managers (service phase)", fmt.Sprint(r.ServiceProposals)},
		{"raft entries applied (service phase)", fmt.Sprint(r.RaftEntries)},
		{"leader changes (whole run / service phase)", fmt.Sprintf("%d / %d", r.LeaderChanges, r.ServiceLeaderChanges)},
		{"failed/rejected tasks", fmt.Sprint(r.FailedTasks)},
		{"running_tasks via API", fmt.Sprint(r.APIRunning)},
		{"leader: Go heap in use (at all RUNNING)", mib(r.HeapInuse)},
		{"leader: Go heap live (after GC)", mib(r.HeapLive)},
		{"leader: Go runtime sys", mib(r.GoSys)},
		{"leader: goroutines", fmt.Sprint(r.Goroutines)},
		{"leader: goroutine stacks", mib(r.StackInuse)},
		{"leader: GC CPU fraction", fmt.Sprintf("%.3f", r.GCCPU)},
	}
	for _, m := range r.ManagerProcs {
		role := "follower"
		if m.Leader {
			role = "leader"
		}
		rows = append(rows, [2]string{
			fmt.Sprintf("manager-%d (%s, pid %d): RSS end / peak", m.Index, role, m.PID),
			fmt.Sprintf("%s / %s (sandbox %s)", mib(m.RSS), mib(m.PeakRSS), mib(m.SandboxRSS)),
		}, [2]string{
			fmt.Sprintf("manager-%d: CPU s run / service phase", m.Index),
			fmt.Sprintf("%.1f / %.1f", m.CPU, m.ServiceCPU),
		}, [2]string{
			fmt.Sprintf("manager-%d: Go heap in use end / peak", m.Index),
			mib(m.HeapInuse) + " / " + mib(m.PeakHeap),
		})
	}
	rows = append(rows,
		[2]string{fmt.Sprintf("simulated nodes' process (nice %d): RSS end / peak", r.AgentsNice), mib(r.AgentsRSS) + " / " + mib(r.AgentsPeakRSS)},
		[2]string{"simulated nodes' process: CPU s run / service phase", fmt.Sprintf("%.1f / %.1f", r.AgentsCPU, r.AgentsServiceCPU)},
	)
	for _, row := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	_ = tw.Flush()
}

// printSweep prints one row per point, with each point's time to all
// RUNNING against the previous point's.
func printSweep(w io.Writer, rs []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "nodes x tasks\tcreate->RUNNING\tx prev\tleader changes (run/service)\tleader RSS end/peak\tleader heap peak\tleader CPU s (service)\tfollowers RSS peak\tnodes' process CPU s (service)\tproposals (service)")
	for i, r := range rs {
		ratio := "-"
		if i > 0 && rs[i-1].AllRunning > 0 && r.AllRunning > 0 {
			ratio = fmt.Sprintf("%.2f", r.AllRunning.Seconds()/rs[i-1].AllRunning.Seconds())
		}
		l := r.Leader()
		var fol []string
		for _, m := range r.ManagerProcs {
			if !m.Leader {
				fol = append(fol, mib(m.PeakRSS))
			}
		}
		fmt.Fprintf(tw, "%d x %d\t%s\t%s\t%d / %d\t%s / %s\t%s\t%.1f\t%s\t%.1f\t%d\n",
			r.Nodes, r.Tasks, dur(r.AllRunning), ratio, r.LeaderChanges, r.ServiceLeaderChanges,
			mib(l.RSS), mib(l.PeakRSS), mib(l.PeakHeap), l.ServiceCPU, strings.Join(fol, ", "), r.AgentsServiceCPU, r.ServiceProposals)
	}
	_ = tw.Flush()
}
