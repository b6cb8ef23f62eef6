package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/internal/client"
)

// crashLedger records what the writer sent and what was acknowledged.
type crashLedger struct {
	mu sync.Mutex
	// labels acknowledged: key -> value.
	acked map[string]string
	// multi-field updates: index -> acknowledged; every attempted one is
	// listed (in-flight ones with false).
	multis map[int]bool
	// availability each multi-field update set.
	multiAvail map[int]shoalv1.NodeAvailability
	// worker tokens returned by acknowledged rotations, in order.
	tokens []string
	// inFlight describes the call that had not answered when the process died.
	inFlightRotate bool
	inFlightMulti  int // -1 if none
	attempted      int
	errors         int
}

const multiKeys = 3

func multiKey(i, j int) string { return fmt.Sprintf("m%d-%d", i, j) }

// writeUntilError issues writes until a call fails after stop is closed.
func (l *crashLedger) writeUntilError(cl shoalv1connect.ControlServiceClient, node string, seq *int, stop <-chan struct{}) {
	for {
		i := *seq
		*seq++
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var err error
		switch i % 5 {
		case 3: // one update setting several labels and the availability
			avail := shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE
			if i%2 == 0 {
				avail = shoalv1.NodeAvailability_NODE_AVAILABILITY_PAUSE
			}
			add := map[string]string{}
			for j := range multiKeys {
				add[multiKey(i, j)] = fmt.Sprintf("x%d", i)
			}
			l.mu.Lock()
			l.multis[i], l.multiAvail[i], l.inFlightMulti = false, avail, i
			l.mu.Unlock()
			_, err = cl.UpdateNode(ctx, connect.NewRequest(&shoalv1.UpdateNodeRequest{Node: node, LabelAdd: add, Availability: avail}))
			l.mu.Lock()
			if err == nil {
				l.multis[i], l.inFlightMulti = true, -1
			}
			l.mu.Unlock()
		case 4: // rotate the worker token
			l.mu.Lock()
			l.inFlightRotate = true
			l.mu.Unlock()
			var res *connect.Response[shoalv1.RotateJoinTokenResponse]
			res, err = cl.RotateJoinToken(ctx, connect.NewRequest(&shoalv1.RotateJoinTokenRequest{Role: shoalv1.NodeRole_NODE_ROLE_WORKER}))
			l.mu.Lock()
			if err == nil {
				l.tokens = append(l.tokens, res.Msg.GetTokens().GetWorker())
				l.inFlightRotate = false
			}
			l.mu.Unlock()
		default:
			k, v := fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)
			_, err = cl.UpdateNode(ctx, connect.NewRequest(&shoalv1.UpdateNodeRequest{Node: node, LabelAdd: map[string]string{k: v}}))
			if err == nil {
				l.mu.Lock()
				l.acked[k] = v
				l.mu.Unlock()
			}
		}
		cancel()
		l.mu.Lock()
		l.attempted++
		l.mu.Unlock()
		if err != nil {
			select {
			case <-stop:
				return
			default:
				l.mu.Lock()
				l.errors++
				l.mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

// check compares the restarted manager's state with the ledger.
func (l *crashLedger) check(n *shoalv1.Node, workerToken string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	labels := n.GetSpec().GetLabels()
	for k, v := range l.acked {
		if labels[k] != v {
			return fmt.Errorf("acknowledged label %s=%s lost after crash (have %q)", k, v, labels[k])
		}
	}
	lastMulti := -1
	for i, ok := range l.multis {
		present := 0
		for j := range multiKeys {
			if _, has := labels[multiKey(i, j)]; has {
				present++
			}
		}
		if present != 0 && present != multiKeys {
			return fmt.Errorf("multi-label update %d half applied: %d of %d labels present", i, present, multiKeys)
		}
		if ok && present == 0 {
			return fmt.Errorf("acknowledged multi-label update %d lost after crash", i)
		}
		if present == multiKeys && i > lastMulti {
			lastMulti = i
		}
	}
	if lastMulti >= 0 {
		if got, want := n.GetSpec().GetAvailability(), l.multiAvail[lastMulti]; got != want {
			return fmt.Errorf("availability %v, but the last applied multi-field update %d set %v", got, lastMulti, want)
		}
	}
	if len(l.tokens) > 0 {
		last := l.tokens[len(l.tokens)-1]
		if workerToken != last {
			if !l.inFlightRotate {
				return fmt.Errorf("worker token is not the last acknowledged rotation's (no rotation was in flight)")
			}
			if slices.Contains(l.tokens, workerToken) {
				return fmt.Errorf("worker token rolled back to an older acknowledged rotation")
			}
		}
	}
	return nil
}

func TestCrashSafety(t *testing.T) {
	const rounds = 15
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	c := newCluster(t, "--raft-tick", "50ms")
	m := c.init("m1")
	l := &crashLedger{acked: map[string]string{}, multis: map[int]bool{}, multiAvail: map[int]shoalv1.NodeAvailability{}, inFlightMulti: -1}
	seq := 0
	var restartTimes []time.Duration
	for round := range rounds {
		cl := m.apiClient(t, false).Control
		stop := make(chan struct{})
		done := make(chan struct{})
		before := l.attempted
		go func() {
			defer close(done)
			l.writeUntilError(cl, m.nodeID, &seq, stop)
		}()
		time.Sleep(time.Duration(50+rng.IntN(351)) * time.Millisecond)
		close(stop)
		m.kill()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: writer still blocked 30s after the kill", round)
		}
		l.mu.Lock()
		t.Logf("round %d: %d calls, %d acknowledged labels so far, %d rotations, in flight: rotate=%v multi=%d",
			round, l.attempted-before, len(l.acked), len(l.tokens), l.inFlightRotate, l.inFlightMulti)
		l.mu.Unlock()

		start := time.Now()
		m.restart("run", "--data-dir", m.dir, "--raft-tick", "50ms")
		cl = m.apiClient(t, false).Control
		var node *shoalv1.Node
		var token string
		eventually(t, startTimeout, fmt.Sprintf("round %d: restarted manager answers", round), func() error {
			if !m.running() {
				t.Fatalf("round %d: restarted manager exited:\n%s", round, tail(m.logPath, 30))
			}
			var err error
			node, token, err = nodeAndWorkerToken(cl, m.nodeID)
			return err
		})
		restartTimes = append(restartTimes, time.Since(start))
		if err := l.check(node, token); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		// The next round starts from what is on disk now.
		l.mu.Lock()
		l.inFlightRotate, l.inFlightMulti = false, -1
		if len(l.tokens) > 0 && token != l.tokens[len(l.tokens)-1] {
			l.tokens = append(l.tokens, token) // the in-flight rotation did commit
		}
		for i, ok := range l.multis {
			if !ok {
				if _, has := node.GetSpec().GetLabels()[multiKey(i, 0)]; has {
					l.multis[i] = true
				} else {
					delete(l.multis, i)
				}
			}
		}
		l.mu.Unlock()
	}
	// A graceful stop (SIGTERM) ends the process cleanly, and it starts again
	// with everything in place.
	start := time.Now()
	if err := m.stop(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, tail(m.logPath, 20))
	}
	t.Logf("SIGTERM: exited cleanly in %s", time.Since(start).Round(time.Millisecond))
	m.restart("run", "--data-dir", m.dir, "--raft-tick", "50ms")
	eventually(t, startTimeout, "manager answers after a graceful stop", func() error {
		c, err := client.New(client.Options{DataDir: m.dir})
		if err != nil {
			return err // the socket is not there yet
		}
		node, token, err := nodeAndWorkerToken(c.Control, m.nodeID)
		if err != nil {
			return err
		}
		if err := l.check(node, token); err != nil {
			t.Fatalf("after a graceful stop: %v", err)
		}
		return nil
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.acked) < rounds {
		t.Fatalf("only %d writes acknowledged over %d rounds: the test did not exercise much", len(l.acked), rounds)
	}
	t.Logf("%d rounds: %d calls, %d labels acknowledged and kept, %d rotations, %d unexpected errors before kills; restart-to-answer %v",
		rounds, l.attempted, len(l.acked), len(l.tokens), l.errors, roundAll(restartTimes))
}

// nodeAndWorkerToken reads node id and the worker join token, as the crash
// test's ledger checks them.
func nodeAndWorkerToken(cl shoalv1connect.ControlServiceClient, id string) (*shoalv1.Node, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := cl.GetNode(ctx, connect.NewRequest(&shoalv1.GetNodeRequest{Node: id}))
	if err != nil {
		return nil, "", err
	}
	tr, err := cl.GetJoinTokens(ctx, connect.NewRequest(&shoalv1.GetJoinTokensRequest{}))
	if err != nil {
		return nil, "", err
	}
	return res.Msg.GetNode(), tr.Msg.GetTokens().GetWorker(), nil
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
