package rafttest_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/raft"
	"github.com/shoal-project/shoal/core/raft/rafttest"
)

const (
	crashDirEnv   = "SHOAL_RAFT_CRASH_DIR"
	crashRoundEnv = "SHOAL_RAFT_CRASH_ROUND"
)

func crashConfig(dir string, kv *rafttest.KV) raft.Config {
	return raft.Config{
		ID:               1,
		NodeID:           "crash",
		Addr:             "crash:1",
		DataDir:          dir,
		StateMachine:     kv,
		Transport:        rafttest.NewNetwork(1<<20, 1).Transport(1),
		TickInterval:     10 * time.Millisecond,
		SnapshotInterval: 37, // snapshots and compactions happen while we kill
		TrailingEntries:  5,
	}
}

// TestCrashHelperProcess is the child of TestCrashSafety: it writes until
// it is killed, printing "ACK <key>" after each acknowledged write.
func TestCrashHelperProcess(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashSafety")
	}
	round := os.Getenv(crashRoundEnv)
	kv := rafttest.NewKV()
	cfg := crashConfig(dir, kv)
	var n *raft.Node
	var err error
	if round == "0" {
		n, err = raft.Bootstrap(cfg)
	} else {
		n, err = raft.Restart(cfg)
	}
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	var out sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				key := fmt.Sprintf("r%s-g%d-%d", round, g, i)
				// Two keys in one entry: both or neither must survive.
				payload := rafttest.Set(key, strings.Repeat("v", 100+i%300), key+"/pair", key)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := n.Propose(ctx, payload)
				cancel()
				if err != nil {
					continue
				}
				out.Lock()
				fmt.Fprintf(w, "ACK %s\n", key)
				w.Flush()
				out.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	acked := map[string]bool{}
	const rounds = 5
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, fmt.Sprintf("%s=%d", crashRoundEnv, round))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 30 + round*47 // acks before the kill, varied per round
		sc := bufio.NewScanner(stdout)
		n := 0
		deadline := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
		for sc.Scan() {
			line := sc.Text()
			if key, ok := strings.CutPrefix(line, "ACK "); ok {
				acked[key] = true
				n++
				if n == killAfter {
					_ = cmd.Process.Signal(syscall.SIGKILL)
				}
			} else if strings.HasPrefix(line, "ERR") {
				t.Fatalf("round %d: child: %s", round, line)
			}
		}
		deadline.Stop()
		_ = cmd.Wait()
		if n < killAfter {
			t.Fatalf("round %d: child made only %d acknowledged writes", round, n)
		}
		verifyCrashDir(t, dir, acked, round)
	}
	t.Logf("%d acknowledged writes survived %d SIGKILLs", len(acked), rounds)
}

func verifyCrashDir(t *testing.T, dir string, acked map[string]bool, round int) {
	t.Helper()
	kv := rafttest.NewKV()
	n, err := raft.Restart(crashConfig(dir, kv))
	if err != nil {
		t.Fatalf("round %d: restart: %v", round, err)
	}
	defer func() {
		if err := n.Stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for !n.IsLeader() {
		select {
		case <-ctx.Done():
			t.Fatalf("round %d: restarted node never led", round)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := n.ReadBarrier(ctx); err != nil {
		t.Fatalf("read barrier: %v", err)
	}
	data := kv.Data()
	for key := range acked {
		if _, ok := data[key]; !ok {
			t.Fatalf("round %d: acknowledged write %s lost", round, key)
		}
	}
	for key, v := range data {
		if base, ok := strings.CutSuffix(key, "/pair"); ok {
			if _, ok := data[base]; !ok || v != base {
				t.Fatalf("round %d: half-applied entry %s", round, base)
			}
		} else if data[key+"/pair"] != key {
			t.Fatalf("round %d: half-applied entry %s", round, key)
		}
	}
	if v := kv.Violations(); len(v) > 0 {
		t.Fatalf("apply order: %v", v)
	}
}
