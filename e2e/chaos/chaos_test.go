package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
)

// clients is how many clients write and read during a round.
const clients = 4

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shoal-chaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: temp dir:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// builds are the binaries the tests run: cmd/shoal as shipped, and with
// the planted bug (-tags chaosbug). The first test that needs one starts
// both builds at once (each takes half a minute on a loaded machine).
var (
	buildOnce sync.Once
	builds    = map[string]*build{"": {}, "chaosbug": {}}
)

type build struct {
	done chan struct{}
	path string
	err  error
	took time.Duration
}

// binary returns cmd/shoal built with tags ("" or "chaosbug").
func binary(t *testing.T, tags string) string {
	t.Helper()
	buildOnce.Do(func() {
		for tags, b := range builds {
			b.done = make(chan struct{})
			b.path = filepath.Join(binDir, "shoal"+tags)
			go func() {
				defer close(b.done)
				start := time.Now()
				cmd := exec.Command("go", "build", "-tags", tags, "-o", b.path, "./cmd/shoal")
				cmd.Dir = "../.."
				if out, err := cmd.CombinedOutput(); err != nil {
					b.err = fmt.Errorf("go build -tags %q ./cmd/shoal: %w\n%s", tags, err, out)
				}
				b.took = time.Since(start)
			}()
		}
	})
	b := builds[tags]
	<-b.done
	if b.err != nil {
		t.Fatal(b.err)
	}
	t.Logf("%s built in %s", b.path, b.took.Round(time.Millisecond))
	return b.path
}

// settings are the run's knobs, from the environment (scripts/chaos.sh).
type settings struct {
	rounds int
	seed   uint64
	faults []fault
}

func settingsFromEnv(t *testing.T) settings {
	s := settings{rounds: 3, seed: uint64(time.Now().UnixNano()), faults: faults}
	if v := os.Getenv("SHOAL_CHAOS_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SHOAL_CHAOS_ROUNDS=%q: want a positive number", v)
		}
		s.rounds = n
	}
	if v := os.Getenv("SHOAL_CHAOS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SHOAL_CHAOS_SEED=%q: want an unsigned number", v)
		}
		s.seed = n
	}
	if v := os.Getenv("SHOAL_CHAOS_FAULTS"); v != "" {
		s.faults = nil
		for _, name := range strings.Split(v, ",") {
			f, ok := faultNamed(name)
			if !ok {
				t.Fatalf("SHOAL_CHAOS_FAULTS: no fault %q; the faults are kill, pause, isolate-leader, split, one-way, lossy, delay, disk-full, demote-restarted", name)
			}
			s.faults = append(s.faults, f)
		}
	}
	return s
}

// summary is what a run did and found (SHOAL_CHAOS_SUMMARY gets it as JSON).
type summary struct {
	Seed       uint64         `json:"seed"`
	Rounds     int            `json:"rounds"`
	Ops        int            `json:"ops"`
	Faults     map[string]int `json:"faults"`
	Violations []string       `json:"violations"`
	Seconds    float64        `json:"seconds"`
}

// suite is one chaos run on one cluster.
type suite struct {
	t     *testing.T
	c     *cluster
	rng   *rand.Rand
	seed  uint64
	dir   string
	start time.Time
	apis  []*client.Client
	sum   summary
}

// newSuite starts a cluster of bin under a kept-on-failure dir.
func newSuite(t *testing.T, bin string, seed uint64) *suite {
	dir, err := os.MkdirTemp("", "shoal-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{t: t, rng: rand.New(rand.NewPCG(seed, 0)), seed: seed, dir: dir, start: time.Now(),
		sum: summary{Seed: seed, Faults: map[string]int{}, Violations: []string{}}}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("SHOAL_CHAOS_KEEP") != "" {
			t.Logf("chaos: seed %d; logs and histories kept in %s", seed, dir)
			return
		}
		os.RemoveAll(dir)
	})
	s.c = newCluster(t, bin, dir)
	for _, m := range s.c.managers {
		s.apis = append(s.apis, m.api)
	}
	return s
}

// The chaos suite: rounds of one random fault each while clients write and
// read through random managers; every round's histories must be
// linearizable, no acknowledged write lost, and the cluster must converge
// after the heal. SHOAL_CHAOS_ROUNDS (default 3), SHOAL_CHAOS_SEED (printed;
// replays the choices), SHOAL_CHAOS_FAULTS (a comma list) and
// SHOAL_CHAOS_SUMMARY (a JSON file) steer it; scripts/chaos.sh sets them.
func TestChaos(t *testing.T) {
	set := settingsFromEnv(t)
	t.Logf("chaos: seed %d, %d rounds (replay: scripts/chaos.sh --rounds %d --seed %d)", set.seed, set.rounds, set.rounds, set.seed)
	s := newSuite(t, binary(t, ""), set.seed)
	// SIGTERM ends the run after the round in progress, with its cleanups
	// (a long run that must stop early keeps its summary and leaves no
	// process, namespace or mount behind).
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	defer signal.Stop(stop)
	var bag []fault // the faults in a random order, drawn without replacement, refilled when empty: every fault within len(faults) rounds
	for n := 1; n <= set.rounds && !stopped(stop); n++ {
		if len(bag) == 0 {
			for _, i := range s.rng.Perm(len(set.faults)) {
				bag = append(bag, set.faults[i])
			}
		}
		f := bag[0]
		bag = bag[1:]
		s.runRound(n, f, time.Duration(3000+s.rng.IntN(5000))*time.Millisecond)
		s.sum.Rounds = n
		s.writeSummary() // after every round: a run cut short keeps what it did
	}
	t.Logf("chaos: seed %d: %d rounds, %d operations, faults %v, %d violations, %.0f s", s.seed, s.sum.Rounds, s.sum.Ops, s.sum.Faults, len(s.sum.Violations), s.sum.Seconds)
	for _, v := range s.sum.Violations {
		t.Errorf("seed %d: %s", s.seed, v)
	}
}

// A planted bug, built in only with -tags chaosbug (core/manager), makes
// every manager serve reads from its own store without the leader's
// ReadIndex: a round that cuts the leader off must then fail the
// linearizability check, so the check is shown to be able to fail.
func TestPlantedStaleReadsAreCaught(t *testing.T) {
	s := newSuite(t, binary(t, "chaosbug"), uint64(time.Now().UnixNano()))
	f, _ := faultNamed("isolate-leader")
	s.runRound(1, f, 8*time.Second)
	var caught bool
	for _, v := range s.sum.Violations {
		t.Logf("violation (expected): %s", v)
		caught = caught || strings.Contains(v, ErrNotLinearizable.Error())
	}
	if !caught {
		t.Errorf("the checker passed a cluster that serves stale reads (%d operations; violations: %q)", s.sum.Ops, s.sum.Violations)
	}
	pages, _ := filepath.Glob(filepath.Join(s.dir, "round1-*.html"))
	if caught && len(pages) == 0 {
		t.Errorf("no porcupine visualisation in %s", s.dir)
	}
}

// stopped reports whether a signal came on stop.
func stopped(stop <-chan os.Signal) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// writeSummary writes the run's summary to SHOAL_CHAOS_SUMMARY, if set.
func (s *suite) writeSummary() {
	s.sum.Seconds = time.Since(s.start).Seconds()
	path := os.Getenv("SHOAL_CHAOS_SUMMARY")
	if path == "" {
		return
	}
	b, _ := json.MarshalIndent(s.sum, "", "  ")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		s.t.Errorf("summary: %v", err)
	}
}

func (s *suite) violate(format string, args ...any) {
	v := fmt.Sprintf(format, args...)
	s.t.Logf("chaos: VIOLATION: %s", v)
	s.sum.Violations = append(s.sum.Violations, v)
}

// runRound creates the round's registers, runs the clients, injects fault
// f for hold, heals, waits for convergence and checks the histories.
func (s *suite) runRound(n int, f fault, hold time.Duration) {
	s.t.Helper()
	r := newRound(n, s.start)
	for k := range registers {
		s.createRegister(r.regKey(k))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range clients {
		rng := rand.New(rand.NewPCG(s.seed, uint64(n*clients+i)))
		wg.Go(func() { r.runClient(ctx, i, rng, s.apis) })
	}
	time.Sleep(time.Second)
	began := time.Now()
	what, violations := f.run(s.c, s.rng, r, hold)
	healed := time.Now()
	time.Sleep(2 * time.Second)
	cancel()
	wg.Wait()
	s.sum.Faults[f.name]++
	for _, v := range violations {
		s.violate("round %d (%s): %s", n, f.name, v)
	}
	restarted := s.c.restartExited()
	took, err := poll(waitTimeout, s.c.converged)
	if err != nil {
		s.violate("round %d (%s): no convergence %s after the heal: %v", n, f.name, waitTimeout, err)
	}
	s.finalReads(r)
	s.checkRound(r, f)
	s.t.Logf("chaos: round %d (%s): %s for %s; restarted %v after; converged %s after the heal; %d register and %d set operations",
		n, f.name, what, healed.Sub(began).Round(time.Millisecond), restarted, (took + 2*time.Second).Round(time.Millisecond), len(r.regs.Ops()), len(r.set.Ops()))
	s.removeRound(r)
}

// createRegister creates the service key with label v=init, through
// whichever manager takes it.
func (s *suite) createRegister(key string) {
	s.t.Helper()
	_, err := poll(waitTimeout, func() error {
		api := pick(s.rng, s.apis)
		_, err := api.Control.CreateService(context.Background(), connect.NewRequest(&shoalv1.CreateServiceRequest{Spec: serviceSpec(key, map[string]string{"v": InitValue})}))
		if err == nil || connect.CodeOf(err) == connect.CodeAlreadyExists {
			return nil
		}
		return err
	})
	if err != nil {
		s.t.Fatalf("create register %s: %v", key, err)
	}
}

// finalClient is the client ID of the reads after convergence.
const finalClient = 98

// finalReads reads every register and the set through every manager.
func (s *suite) finalReads(r *round) {
	for _, api := range s.apis {
		for k := range registers {
			r.readReg(api, finalClient, r.regKey(k))
		}
		r.readSet(api, finalClient)
	}
}

// checkRound checks the round's histories and that every acknowledged
// add is in every manager's store.
func (s *suite) checkRound(r *round, f fault) {
	s.sum.Ops += len(r.regs.Ops()) + len(r.set.Ops())
	for _, h := range []struct {
		name  string
		hist  *History
		model func() error
	}{
		{"register", r.regs, func() error {
			return Check(RegisterModel, r.regs.Ops(), time.Minute, s.dir, fmt.Sprintf("round%d-register", r.n))
		}},
		{"set", r.set, func() error {
			return Check(SetModel, r.set.Ops(), time.Minute, s.dir, fmt.Sprintf("round%d-set", r.n))
		}},
	} {
		if err := h.model(); err != nil {
			s.violate("round %d (%s): %v", r.n, f.name, err)
		}
	}
	for _, m := range s.c.managers {
		api, err := localClient(m)
		if err != nil {
			s.violate("round %d: %s: %v", r.n, m.name, err)
			continue
		}
		res, err := api.Control.ListServices(context.Background(), connect.NewRequest(&shoalv1.ListServicesRequest{}))
		if err != nil {
			s.violate("round %d: list services on %s: %v", r.n, m.name, err)
			continue
		}
		have := r.members(res.Msg.GetServices())
		r.mu.Lock()
		for _, e := range r.acked {
			if !slices.Contains(have, e) {
				s.violate("round %d (%s): acknowledged add %s is not in %s's store", r.n, f.name, e, m.name)
			}
		}
		r.mu.Unlock()
	}
}

// removeRound removes the round's services so the cluster stays small.
func (s *suite) removeRound(r *round) {
	prefix := fmt.Sprintf("r%d-", r.n)
	_, err := poll(waitTimeout, func() error {
		res, err := s.apis[0].Control.ListServices(context.Background(), connect.NewRequest(&shoalv1.ListServicesRequest{}))
		if err != nil {
			return err
		}
		var errs []error
		for _, svc := range res.Msg.GetServices() {
			if strings.HasPrefix(svc.GetSpec().GetName(), prefix) {
				_, err := s.apis[0].Control.RemoveService(context.Background(), connect.NewRequest(&shoalv1.RemoveServiceRequest{Service: svc.GetId()}))
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
	if err != nil {
		s.t.Fatalf("remove round %d's services: %v", r.n, err)
	}
}
