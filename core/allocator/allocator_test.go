package allocator

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/store"
	"github.com/shoal-project/shoal/core/store/storetest"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/clock/clocktest"
	"github.com/shoal-project/shoal/sdk"
	"google.golang.org/protobuf/proto"
)

// manualClock is the shared manual test clock.
type manualClock = clocktest.Manual

func newManualClock() *manualClock { return clocktest.NewManual() }

type harness struct {
	t   testing.TB
	ctx context.Context
	clk *manualClock
	st  *storetest.Store
	a   *Allocator
	n   int
}

func newHarness(t testing.TB, opts ...Option) *harness {
	h := &harness{t: t, ctx: context.Background(), clk: newManualClock()}
	h.st = storetest.New(t, store.WithClock(h.clk.Now))
	h.a = New(h.st.Store, append([]Option{WithClock(h.clk)}, opts...)...)
	return h
}

func (h *harness) addNetwork(id, subnet, gateway string) {
	h.st.MustUpdate(func(tx store.Tx) error {
		return tx.Create(&shoalv1.Network{Id: id, Spec: &shoalv1.NetworkSpec{Name: id, Subnet: subnet, Gateway: gateway}})
	})
}

func port(target, published uint32) *shoalv1.PortConfig {
	return &shoalv1.PortConfig{Protocol: "tcp", TargetPort: target, PublishedPort: published}
}

func (h *harness) addService(id string, tasks int, networks []string, ports ...*shoalv1.PortConfig) {
	s := &shoalv1.Service{Id: id, SpecVersion: 1, Spec: &shoalv1.ServiceSpec{
		Name:     id,
		Task:     &shoalv1.TaskSpec{},
		Networks: networks,
		Endpoint: &shoalv1.EndpointSpec{Ports: ports},
	}}
	h.st.MustUpdate(func(tx store.Tx) error { return tx.Create(s) })
	h.addTasks(id, tasks)
}

func (h *harness) addTasks(service string, n int) {
	tasks := make([]store.Object, n)
	for i := range tasks {
		h.n++
		tasks[i] = &shoalv1.Task{Id: fmt.Sprintf("t%06d", h.n), ServiceId: service, Slot: uint64(i + 1),
			DesiredState: shoalv1.TaskState_TASK_STATE_RUNNING, Status: &shoalv1.TaskStatus{State: stateNew}}
	}
	h.st.Create(tasks...)
}

func (h *harness) pass() PassStats {
	h.t.Helper()
	st, err := h.a.Pass(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

func TestNoNetworksGoesPending(t *testing.T) {
	h := newHarness(t)
	h.addService("s", 3, nil)
	st := h.pass()
	if st.Allocated != 3 || st.Failed != 0 || st.Fallbacks != 0 {
		t.Fatalf("stats %+v", st)
	}
	for _, tk := range h.st.Tasks("s") {
		if tk.GetStatus().GetState() != statePending || tk.GetStatus().GetMessage() != "allocated" {
			t.Fatalf("task %v", tk)
		}
	}
}

func TestAddressesAndExhaustion(t *testing.T) {
	h := newHarness(t)
	h.addNetwork("n1", "10.0.1.0/29", "10.0.1.1") // .2 - .6 usable: 5, one the VIP
	h.addService("s", 7, []string{"n1"})
	st := h.pass()
	if st.Allocated != 4 || st.Failed != 3 {
		t.Fatalf("stats %+v", st)
	}
	seen := map[string]bool{}
	var first *shoalv1.Task
	for _, tk := range h.st.Tasks("s") {
		switch tk.GetStatus().GetState() {
		case statePending:
			a := tk.GetNetworks()[0].GetAddresses()[0]
			p := netip.MustParsePrefix(a)
			if seen[a] || !netip.MustParsePrefix("10.0.1.0/29").Contains(p.Addr()) || a == "10.0.1.1/29" {
				t.Fatalf("bad address %s", a)
			}
			seen[a] = true
			if first == nil {
				first = tk
			}
		case stateNew:
			if got := tk.GetStatus().GetErr(); got != "network n1 has no free addresses" {
				t.Fatalf("reason %q", got)
			}
		}
	}
	// A stopped task frees its address.
	h.st.MustUpdate(func(tx store.Tx) error {
		x := proto.CloneOf(tx.GetTask(first.GetId()))
		x.Status.State = shoalv1.TaskState_TASK_STATE_FAILED
		return tx.Update(x)
	})
	if st := h.pass(); st.Allocated != 1 || st.Failed != 2 {
		t.Fatalf("stats after free %+v", st)
	}
	vips := h.st.Service("s").GetEndpoint().GetVirtualIps()
	if len(vips) != 1 || vips[0].GetNetworkId() != "n1" || seen[vips[0].GetAddresses()[0]] {
		t.Fatalf("service VIPs %v, task addresses %v", vips, seen)
	}
}

func TestVIPKeptAndDroppedWithNetworks(t *testing.T) {
	h := newHarness(t)
	h.addNetwork("n1", "10.0.1.0/24", "10.0.1.1")
	h.addNetwork("n2", "10.0.2.0/24", "10.0.2.1")
	h.addService("s", 1, []string{"n1", "n2"})
	h.pass()
	first := h.st.Service("s").GetEndpoint().GetVirtualIps()
	if len(first) != 2 {
		t.Fatalf("VIPs %v, want one per network", first)
	}
	h.st.MustUpdate(func(tx store.Tx) error {
		s := proto.CloneOf(tx.GetService("s"))
		s.Spec.Networks = []string{"n2"}
		return tx.Update(s)
	})
	h.pass()
	got := h.st.Service("s").GetEndpoint().GetVirtualIps()
	if len(got) != 1 || got[0].GetNetworkId() != "n2" || got[0].GetAddresses()[0] != first[1].GetAddresses()[0] {
		t.Fatalf("VIPs after leaving n1: %v (before %v)", got, first)
	}
}

func TestUnknownNetwork(t *testing.T) {
	h := newHarness(t)
	h.addService("s", 1, []string{"nope"})
	h.pass()
	if got := h.st.Tasks("s")[0].GetStatus(); got.GetState() != stateNew || got.GetErr() != "network nope not found" {
		t.Fatalf("status %v", got)
	}
	// Unchanged failures are not rewritten.
	if n := h.st.Writes(func() { h.pass() }); n != 0 {
		t.Fatalf("rewrote an unchanged failure (%d proposals)", n)
	}
}

func TestDynamicPorts(t *testing.T) {
	h := newHarness(t)
	h.addService("a", 2, nil, port(80, 0), port(443, 8443))
	h.addService("b", 1, nil, port(80, 0))
	st := h.pass()
	if st.Services != 2 || st.Allocated != 3 {
		t.Fatalf("stats %+v", st)
	}
	pa := h.st.Service("a").GetEndpoint().GetPorts()
	pb := h.st.Service("b").GetEndpoint().GetPorts()
	if len(pa) != 2 || pa[1].GetPublishedPort() != 8443 {
		t.Fatalf("a endpoint %v", pa)
	}
	dynA, dynB := pa[0].GetPublishedPort(), pb[0].GetPublishedPort()
	if dynA < 30000 || dynA > 32767 || dynB < 30000 || dynB > 32767 || dynA == dynB {
		t.Fatalf("dynamic ports %d %d", dynA, dynB)
	}
	for _, tk := range h.st.Tasks("a") {
		if got := tk.GetEndpoint().GetPorts(); len(got) != 2 || got[0].GetPublishedPort() != dynA {
			t.Fatalf("task endpoint %v", got)
		}
	}
	// Stable across passes and new tasks.
	h.addTasks("a", 1)
	if st := h.pass(); st.Services != 0 || st.Allocated != 1 {
		t.Fatalf("stats %+v", st)
	}
	if got := h.st.Service("a").GetEndpoint().GetPorts()[0].GetPublishedPort(); got != dynA {
		t.Fatalf("port moved from %d to %d", dynA, got)
	}
}

func TestPortsExhausted(t *testing.T) {
	h := newHarness(t, WithPortRange(30000, 30001))
	h.addService("a", 1, nil, port(80, 0))
	h.addService("b", 1, nil, port(80, 0))
	h.addService("c", 1, nil, port(80, 0))
	st := h.pass()
	if st.Allocated != 2 || st.Failed != 1 {
		t.Fatalf("stats %+v", st)
	}
	if got := h.st.Tasks("c")[0].GetStatus().GetErr(); got != "published port: dynamic port range exhausted" {
		t.Fatalf("reason %q", got)
	}
}

func TestSkipsShutdown(t *testing.T) {
	h := newHarness(t)
	h.addService("s", 1, nil)
	id := h.st.Tasks("s")[0].GetId()
	h.st.MustUpdate(func(tx store.Tx) error {
		x := proto.CloneOf(tx.GetTask(id))
		x.DesiredState = shoalv1.TaskState_TASK_STATE_SHUTDOWN
		return tx.Update(x)
	})
	if st := h.pass(); st.New != 0 || st.Allocated != 0 {
		t.Fatalf("stats %+v", st)
	}
}

type badPolicy func(*sdk.AllocateRequest) (*sdk.AllocateResponse, error)

func (b badPolicy) Allocate(_ context.Context, r *sdk.AllocateRequest) (*sdk.AllocateResponse, error) {
	return b(r)
}

func TestFallbackOnBadPolicy(t *testing.T) {
	sameAddr := func(r *sdk.AllocateRequest) (*sdk.AllocateResponse, error) {
		resp := &sdk.AllocateResponse{Addresses: make([]sdk.AddressResult, len(r.Addresses)), Ports: make([]sdk.PortResult, len(r.Ports))}
		for i := range resp.Addresses {
			resp.Addresses[i].Address = "10.0.0.5/24"
		}
		for i := range resp.Ports {
			resp.Ports[i].Port = 30000
		}
		return resp, nil
	}
	tests := map[string]badPolicy{
		"error":     func(*sdk.AllocateRequest) (*sdk.AllocateResponse, error) { return nil, errors.New("trap") },
		"nil":       func(*sdk.AllocateRequest) (*sdk.AllocateResponse, error) { return nil, nil },
		"short":     func(*sdk.AllocateRequest) (*sdk.AllocateResponse, error) { return &sdk.AllocateResponse{}, nil },
		"duplicate": sameAddr,
		"outside": func(r *sdk.AllocateRequest) (*sdk.AllocateResponse, error) {
			resp, _ := sameAddr(r)
			resp.Addresses[0].Address = "192.168.0.1/24"
			return resp, nil
		},
		"port range": func(r *sdk.AllocateRequest) (*sdk.AllocateResponse, error) {
			resp, _ := Native().Allocate(context.Background(), r)
			resp.Ports[0].Port = 80
			return resp, nil
		},
		"gateway": func(r *sdk.AllocateRequest) (*sdk.AllocateResponse, error) {
			resp, _ := Native().Allocate(context.Background(), r)
			resp.Addresses[0].Address = "10.0.0.1/24"
			return resp, nil
		},
	}
	for name, p := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, WithPolicy(p))
			h.addNetwork("n", "10.0.0.0/24", "10.0.0.1")
			h.addService("s", 3, []string{"n"}, port(80, 0), port(81, 0))
			st := h.pass()
			if st.Fallbacks != 1 || st.Allocated != 3 {
				t.Fatalf("stats %+v", st)
			}
			seen := map[string]bool{}
			for _, tk := range h.st.Tasks("s") {
				a := tk.GetNetworks()[0].GetAddresses()[0]
				if seen[a] || strings.HasPrefix(a, "10.0.0.1/") {
					t.Fatalf("bad address %s", a)
				}
				seen[a] = true
			}
		})
	}
}

func TestBatchedProposals(t *testing.T) {
	h := newHarness(t)
	h.addNetwork("n", "10.1.0.0/16", "")
	h.addService("s", 10_000, []string{"n"})
	var st PassStats
	used := h.st.Writes(func() { st = h.pass() })
	if st.Allocated != 10_000 || used > 12 {
		t.Fatalf("stats %+v, %d proposals", st, used)
	}
	t.Logf("10,000 tasks allocated in %d proposals", used)
}

func TestRunAllocates(t *testing.T) {
	var observed atomic.Int64 // tasks allocated, as the pass observer was told
	h := newHarness(t, WithPassObserver(func(st PassStats, _ time.Duration, err error) {
		if err == nil {
			observed.Add(int64(st.Allocated))
		}
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	h.addService("s", 5, nil)
	deadline := time.Now().Add(20 * time.Second)
	for {
		h.clk.Advance(DefaultDebounce)
		n := 0
		for _, tk := range h.st.Tasks("s") {
			if tk.GetStatus().GetState() == statePending {
				n++
			}
		}
		if n == 5 && observed.Load() == 5 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 5 pending, the pass observer told of %d", n, observed.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A task refused on one of its networks takes nothing on the others, so
// it cannot crowd out a task of another service in the same pass.
func TestRefusedOnOneNetworkTakesNothingOnOthers(t *testing.T) {
	h := newHarness(t)
	h.addNetwork("full", "10.0.1.0/30", "10.0.1.1") // one usable address: the VIP's
	h.addNetwork("n2", "10.0.2.0/29", "10.0.2.1")   // five: two VIPs, three tasks
	h.addService("both", 2, []string{"full", "n2"})
	h.addService("one", 3, []string{"n2"})
	st := h.pass()
	if st.Allocated != 3 || st.Failed != 2 {
		t.Fatalf("stats %+v", st)
	}
	for _, tk := range h.st.Tasks("both") {
		if got := tk.GetStatus().GetErr(); tk.GetStatus().GetState() != stateNew || got != "network full has no free addresses" {
			t.Fatalf("task of both: %v", tk.GetStatus())
		}
	}
	for _, tk := range h.st.Tasks("one") {
		if tk.GetStatus().GetState() != statePending {
			t.Fatalf("task of one: %v", tk.GetStatus())
		}
	}
}

// declineOn is the native policy, declining every address on one network.
type declineOn string

func (d declineOn) Allocate(ctx context.Context, r *sdk.AllocateRequest) (*sdk.AllocateResponse, error) {
	resp, err := Native().Allocate(ctx, r)
	for i, q := range r.Addresses {
		if q.NetworkID == string(d) && err == nil {
			resp.Addresses[i] = sdk.AddressResult{Code: sdk.AllocDeclinedByPolicy}
		}
	}
	return resp, err
}

// A task the policy declines on one network gives back what it got on the
// others within the pass: tasks that fit without it are not refused.
func TestDeclinedOnOneNetworkCrowdsNoOneOut(t *testing.T) {
	h := newHarness(t, WithPolicy(declineOn("n2")))
	h.addNetwork("n1", "10.0.1.0/29", "10.0.1.1") // five: two VIPs, three tasks
	h.addNetwork("n2", "10.0.2.0/24", "10.0.2.1")
	h.addService("a-both", 1, []string{"n1", "n2"})
	h.addService("b-one", 3, []string{"n1"})
	st := h.pass()
	if st.Allocated != 3 || st.Failed != 1 {
		t.Fatalf("stats %+v", st)
	}
	if got := h.st.Tasks("a-both")[0].GetStatus().GetErr(); got != "network n2: declined by policy" {
		t.Fatalf("reason %q", got)
	}
}

// TestAllocatedTasksKeepTheirSharedSpec: the allocator replaces a task's
// status, not its spec, so the tasks of a service go on sharing one TaskSpec
// (100,000 copies of it were a third of a leader's heap).
func TestAllocatedTasksKeepTheirSharedSpec(t *testing.T) {
	h := newHarness(t)
	h.addNetwork("n1", "10.0.0.0/24", "10.0.0.1")
	spec := &shoalv1.TaskSpec{Runtime: &shoalv1.TaskSpec_Container{Container: &shoalv1.ContainerSpec{Image: "busybox"}}}
	h.st.MustUpdate(func(tx store.Tx) error {
		return tx.Create(&shoalv1.Service{Id: "s", SpecVersion: 1, Spec: &shoalv1.ServiceSpec{Name: "s", Task: spec, Networks: []string{"n1"}}})
	})
	h.st.MustUpdate(func(tx store.Tx) error {
		for i := range 3 {
			if err := tx.Create(&shoalv1.Task{Id: fmt.Sprintf("t%d", i), ServiceId: "s", Slot: uint64(i + 1), Spec: spec,
				DesiredState: shoalv1.TaskState_TASK_STATE_RUNNING, Status: &shoalv1.TaskStatus{State: stateNew}}); err != nil {
				return err
			}
		}
		return nil
	})
	if st := h.pass(); st.Allocated != 3 {
		t.Fatalf("stats %+v", st)
	}
	var tasks []*shoalv1.Task
	if err := h.st.View(func(tx store.ReadTx) (err error) {
		tasks, err = tx.FindTasks(store.ByService("s")) // the stored objects, not copies
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, tk := range tasks {
		if tk.GetStatus().GetState() != statePending || len(tk.GetNetworks()) != 1 {
			t.Fatalf("task not allocated: %v", tk)
		}
		if tk.GetSpec() != spec {
			t.Fatalf("task %s holds a copy of the service's spec, not the shared one", tk.GetId())
		}
	}
}
