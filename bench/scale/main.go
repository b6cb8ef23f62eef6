package main

import (
	"context"
	"encoding/json"
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
	"text/tabwriter"
	"time"

	"github.com/shoal-project/shoal/core/node"
)

func main() {
	node.ReexecHooks()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	fs.IntVar(&cfg.Managers, "managers", 3, "managers")
	fs.IntVar(&cfg.Nodes, "nodes", 2400, "simulated worker nodes")
	fs.IntVar(&cfg.Tasks, "tasks", 100000, "replicas of the service")
	fs.StringVar(&cfg.Dir, "dir", "", "base dir for the managers' data (default: a temp dir, removed)")
	fs.DurationVar(&cfg.HeartbeatPeriod, "heartbeat", 5*time.Second, "cluster heartbeat period")
	fs.DurationVar(&cfg.TickInterval, "tick", 0, "managers' Raft tick interval, election after 10 ticks (0: core/raft default, 100ms)")
	fs.DurationVar(&cfg.MaxStartLatency, "start-latency", 50*time.Millisecond, "sim start latency spread over [0, this] across nodes")
	fs.IntVar(&cfg.JoinConcurrency, "join-concurrency", 32, "nodes joining at once")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Minute, "give up waiting for RUNNING after this")
	fs.DurationVar(&cfg.PollInterval, "poll", 250*time.Millisecond, "task state poll interval")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	verbose := fs.Bool("v", false, "log warnings and errors of managers and agents to stderr")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the service phase (CreateService to all RUNNING) to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile at the end to this file")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this loopback address (e.g. 127.0.0.1:6060) during the run")
	mutexFraction := fs.Int("mutexprofile-fraction", 0, "runtime.SetMutexProfileFraction rate for -pprof (0: off)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *pprofAddr != "" {
		runtime.SetMutexProfileFraction(*mutexFraction)
		srv := &http.Server{Addr: *pprofAddr, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.ListenAndServe() }()
		defer srv.Close()
	}
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if !*quiet {
		start := time.Now()
		cfg.Progress = func(s string) { fmt.Fprintf(stderr, "[%7.1fs] %s\n", time.Since(start).Seconds(), s) }
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
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
				fmt.Fprintln(stderr, "cpuprofile:", err)
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := Run(ctx, cfg)
	if *memProfile != "" {
		if f, ferr := os.Create(*memProfile); ferr == nil {
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		printTable(stdout, res)
	}
	if err != nil {
		fmt.Fprintln(stderr, "scale:", err)
		return 1
	}
	return 0
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
		{"ASSIGNED -> RUNNING", dur(r.AllRunning - r.AllAssigned)},
		{"tasks/s to RUNNING", fmt.Sprintf("%.0f", r.TasksPerSec)},
		{"proposals, all managers (service phase)", fmt.Sprint(r.ServiceProposals)},
		{"raft entries applied (service phase)", fmt.Sprint(r.RaftEntries)},
		{"leader changes", fmt.Sprint(r.LeaderChanges)},
		{"failed/rejected tasks", fmt.Sprint(r.FailedTasks)},
		{"running_tasks via API", fmt.Sprint(r.APIRunning)},
		{"Go heap in use (at all RUNNING)", mib(r.HeapInuse)},
		{"Go heap live (after GC)", mib(r.HeapLive)},
		{"Go runtime sys", mib(r.GoSys)},
		{"process RSS / peak", mib(r.RSS) + " / " + mib(r.PeakRSS)},
		{"plugin sandbox children RSS", mib(r.ChildrenRSS)},
		{"goroutines", fmt.Sprint(r.Goroutines)},
		{"GC CPU fraction", fmt.Sprintf("%.3f", r.GCCPU)},
	}
	for _, row := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	_ = tw.Flush()
}
