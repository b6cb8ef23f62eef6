package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"connectrpc.com/connect"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
)

// errNoLeader is returned when no manager leads within the wait.
var errNoLeader = errors.New("scale: no manager became leader")

// managerProc is one manager process.
type managerProc struct {
	idx    int
	dir    string
	addr   string // Raft/API address (mTLS)
	debug  string // status/pprof endpoint (plain HTTP, loopback)
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process ended
	err    error         // its exit error, once exited is closed
	nodeID string
}

// cluster is the benchmark's managers, each in its own process.
type cluster struct {
	ms []*managerProc
	hc *http.Client
}

func (c *cluster) stop() {
	for i := len(c.ms) - 1; i >= 0; i-- {
		m := c.ms[i]
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, m := range c.ms {
		select {
		case <-m.exited:
		case <-time.After(30 * time.Second):
			_ = m.cmd.Process.Kill()
			<-m.exited
		}
	}
}

// addrs returns the managers' addresses, leader first.
func (c *cluster) addrs(leader int) []string {
	out := []string{c.ms[leader].addr}
	for i, m := range c.ms {
		if i != leader {
			out = append(out, m.addr)
		}
	}
	return out
}

// status asks manager i for its status; svc and workers ask the leader
// for the service's task counts and the READY workers.
func (c *cluster) status(ctx context.Context, i int, svc string, workers bool) (managerStatus, error) {
	var st managerStatus
	q := url.Values{}
	if svc != "" {
		q.Set("svc", svc)
	}
	if workers {
		q.Set("workers", "1")
	}
	err := c.get(ctx, i, "/status?"+q.Encode(), &st)
	return st, err
}

func (c *cluster) get(ctx context.Context, i int, path string, out any) error {
	m := c.ms[i]
	select {
	case <-m.exited:
		return fmt.Errorf("%w: manager-%d: %v (log: %s)", errManagerExited, i, m.err, tail(filepath.Join(m.dir, "manager.log")))
	default:
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.debug+path, nil)
	if err != nil {
		return err
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		var b bytes.Buffer
		_, _ = b.ReadFrom(res.Body)
		return fmt.Errorf("manager-%d %s: %s: %s", i, path, res.Status, strings.TrimSpace(b.String()))
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(res.Body).Decode(out)
}

// leader returns the index of the current leader, waiting up to d.
func (c *cluster) leader(ctx context.Context, d time.Duration) (int, error) {
	deadline := time.Now().Add(d)
	for {
		for i := range c.ms {
			st, err := c.status(ctx, i, "", false)
			if errors.Is(err, errManagerExited) {
				return -1, err
			}
			if err == nil && st.Leader {
				return i, nil
			}
		}
		if time.Now().After(deadline) {
			return -1, errNoLeader
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return -1, err
		}
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startCluster starts managers processes in base: the first runs node.Init,
// the rest node.Join with the manager token, as 'shoal join' does. Each is
// this binary re-executed with managerEnv set; its stderr goes to
// base/mN/manager.log.
func startCluster(ctx context.Context, base string, managers int, heartbeat, tick time.Duration, verbose bool, memoryLimit string, gogc int) (*cluster, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := &cluster{hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	for i := 0; i < managers; i++ {
		addr, err1 := freeAddr()
		debug, err2 := freeAddr()
		if err := errors.Join(err1, err2); err != nil {
			c.stop()
			return nil, err
		}
		a := managerArgs{
			Index: i, Dir: filepath.Join(base, fmt.Sprintf("m%d", i)), Listen: addr, Debug: debug,
			Heartbeat: heartbeat, Tick: tick, Verbose: verbose, MemoryLimit: memoryLimit, GOGC: gogc,
		}
		if i > 0 {
			a.Token, err = joinToken(ctx, c.ms[0].dir, false)
			if err != nil {
				c.stop()
				return nil, fmt.Errorf("manager join token: %w", err)
			}
			a.JoinAddr = c.ms[0].addr
		}
		m, err := spawnManager(exe, a)
		if err != nil {
			c.stop()
			return nil, fmt.Errorf("manager %d: %w", i, err)
		}
		c.ms = append(c.ms, m)
		// Up once its status endpoint answers (Init/Join returned).
		deadline := time.Now().Add(90 * time.Second)
		for {
			st, err := c.status(ctx, i, "", false)
			if err == nil {
				m.nodeID = st.NodeID
				break
			}
			if errors.Is(err, errManagerExited) || time.Now().After(deadline) || ctx.Err() != nil {
				c.stop()
				return nil, fmt.Errorf("manager %d did not come up: %w", i, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok := true
		for i := range c.ms {
			st, err := c.status(ctx, i, "", false)
			if err != nil || st.Members != managers {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, errors.New("scale: managers did not all see each other within 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c, nil
}

func spawnManager(exe string, a managerArgs) (*managerProc, error) {
	if err := os.MkdirAll(a.Dir, 0o700); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(a.Dir, "manager.log"))
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(a)
	if err != nil {
		logf.Close()
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), managerEnv+"="+string(js))
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a ^C to the benchmark reaches the managers
	// through its SIGTERM, in order, not all at once.
	// The manager ends itself if this process dies (it watches its parent).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	m := &managerProc{idx: a.Index, dir: a.Dir, addr: a.Listen, debug: a.Debug, cmd: cmd, exited: make(chan struct{})}
	go func() {
		m.err = cmd.Wait()
		logf.Close()
		close(m.exited)
	}()
	return m, nil
}

// tail returns the last lines of a log file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// joinToken reads a join token through the admin socket in dir.
func joinToken(ctx context.Context, dir string, worker bool) (string, error) {
	cl, err := client.New(client.Options{DataDir: dir})
	if err != nil {
		return "", err
	}
	res, err := cl.Control.GetJoinTokens(ctx, connect.NewRequest(&shoalv1.GetJoinTokensRequest{}))
	if err != nil {
		return "", err
	}
	if worker {
		return res.Msg.GetTokens().GetWorker(), nil
	}
	return res.Msg.GetTokens().GetManager(), nil
}

// procStat is a process's CPU time and memory from /proc.
type procStat struct {
	CPU     time.Duration // utime + stime
	RSS     uint64        // VmRSS
	PeakRSS uint64        // VmHWM
	Nice    int
}

// clkTck is USER_HZ, 100 on every Linux architecture Go supports.
const clkTck = 100

func readProc(pid int) procStat {
	var ps procStat
	ps.RSS, ps.PeakRSS = procMem(pid)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps
	}
	// Fields after the command name (which may hold spaces) in parentheses.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		f := strings.Fields(s[i+1:])
		// f[0] is field 3 (state): utime is field 14, stime 15, nice 19.
		if len(f) > 16 {
			ut, _ := strconv.ParseUint(f[11], 10, 64)
			st, _ := strconv.ParseUint(f[12], 10, 64)
			ps.CPU = time.Duration(ut+st) * time.Second / clkTck
			ps.Nice, _ = strconv.Atoi(f[16])
		}
	}
	return ps
}

// reniceSelf sets the nice value of every thread of this process (Linux
// nice is per thread; new threads inherit their creator's), repeating until
// no new thread appears, and returns the process's nice afterwards.
func reniceSelf(nice int) (int, error) {
	done := map[int]bool{}
	for pass := 0; pass < 10; pass++ {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return 0, err
		}
		fresh := 0
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || done[tid] {
				continue
			}
			fresh++
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil && !errors.Is(err, syscall.ESRCH) {
				return 0, fmt.Errorf("setpriority %d: %w", tid, err)
			}
			done[tid] = true
		}
		if fresh == 0 {
			break
		}
	}
	return readProc(os.Getpid()).Nice, nil
}

// monitor polls every manager's status while the benchmark runs: the
// highest Raft term seen (each rise is an election), the leader, and each
// manager's peak Go heap. One goroutine owns the samples; snapshot reads
// them under mu.
type monitor struct {
	c     *cluster
	every time.Duration

	mu        sync.Mutex
	term      uint64
	leader    int
	peakHeap  []uint64
	lastHeap  []uint64
	proposals []uint64
	applied   []uint64
	err       error
}

func newMonitor(c *cluster, every time.Duration) *monitor {
	n := len(c.ms)
	return &monitor{c: c, every: every, leader: -1, peakHeap: make([]uint64, n), lastHeap: make([]uint64, n),
		proposals: make([]uint64, n), applied: make([]uint64, n)}
}

func (m *monitor) run(ctx context.Context) {
	for {
		m.poll(ctx)
		if sleepCtx(ctx, m.every) != nil {
			return
		}
	}
}

func (m *monitor) poll(ctx context.Context) {
	for i := range m.c.ms {
		st, err := m.c.status(ctx, i, "", false)
		m.mu.Lock()
		if err != nil {
			if errors.Is(err, errManagerExited) && m.err == nil {
				m.err = err
			}
			m.mu.Unlock()
			continue
		}
		m.term = max(m.term, st.Term)
		if st.Leader {
			m.leader = i
		}
		m.peakHeap[i] = max(m.peakHeap[i], st.HeapInuse)
		m.lastHeap[i] = st.HeapInuse
		m.proposals[i], m.applied[i] = st.Proposals, st.Applied
		m.mu.Unlock()
	}
}

// monitorSnap is one read of the monitor.
type monitorSnap struct {
	term      uint64
	leader    int
	peakHeap  []uint64
	lastHeap  []uint64
	proposals uint64 // all managers
	applied   uint64 // highest
	err       error
}

func (m *monitor) snapshot() monitorSnap {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := monitorSnap{term: m.term, leader: m.leader, err: m.err,
		peakHeap: append([]uint64(nil), m.peakHeap...), lastHeap: append([]uint64(nil), m.lastHeap...)}
	for i := range m.proposals {
		s.proposals += m.proposals[i]
		s.applied = max(s.applied, m.applied[i])
	}
	return s
}
