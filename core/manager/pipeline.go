package manager

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/allocator"
	"github.com/shoal-project/shoal/core/dispatcher"
	"github.com/shoal-project/shoal/core/orchestrator"
	"github.com/shoal-project/shoal/core/rebalancer"
	"github.com/shoal-project/shoal/core/scheduler"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
)

// dispatchers holds the dispatcher answering agents: a fresh one for each
// leadership term, and a follower one that points agents to the leader.
type dispatchers struct {
	cur      atomic.Pointer[dispatcher.Dispatcher]
	follower *dispatcher.Dispatcher

	// gossipMu orders verdicts with a term's start (so the new dispatcher
	// misses none); gossipDead are the nodes the gossip layer holds dead.
	gossipMu   sync.Mutex
	gossipDead map[string]bool
}

// verdict records the gossip layer's verdict on a node and hands it to the
// current dispatcher.
func (ds *dispatchers) verdict(nodeID string, dead bool) {
	ds.gossipMu.Lock()
	defer ds.gossipMu.Unlock()
	if ds.gossipDead == nil {
		ds.gossipDead = map[string]bool{}
	}
	if dead {
		ds.gossipDead[nodeID] = true
	} else {
		delete(ds.gossipDead, nodeID)
	}
	if d := ds.cur.Load(); d != nil {
		d.GossipVerdict(nodeID, dead)
	}
}

// start makes d the current dispatcher with the verdicts known so far.
func (ds *dispatchers) start(d *dispatcher.Dispatcher) {
	ds.gossipMu.Lock()
	defer ds.gossipMu.Unlock()
	ds.cur.Store(d)
	for id := range ds.gossipDead {
		d.GossipVerdict(id, true)
	}
}

// dispatcherHandler sends every DispatcherService call to the current dispatcher.
type dispatcherHandler struct{ d *dispatchers }

func (h dispatcherHandler) get() *dispatcher.Dispatcher { return h.d.cur.Load() }

func (h dispatcherHandler) Session(ctx context.Context, req *connect.Request[shoalv1.SessionRequest], s *connect.ServerStream[shoalv1.SessionMessage]) error {
	return h.get().Session(ctx, req, s)
}

func (h dispatcherHandler) Heartbeat(ctx context.Context, req *connect.Request[shoalv1.HeartbeatRequest]) (*connect.Response[shoalv1.HeartbeatResponse], error) {
	return h.get().Heartbeat(ctx, req)
}

func (h dispatcherHandler) Assignments(ctx context.Context, req *connect.Request[shoalv1.AssignmentsRequest], s *connect.ServerStream[shoalv1.AssignmentsMessage]) error {
	return h.get().Assignments(ctx, req, s)
}

func (h dispatcherHandler) UpdateTaskStatus(ctx context.Context, req *connect.Request[shoalv1.UpdateTaskStatusRequest]) (*connect.Response[shoalv1.UpdateTaskStatusResponse], error) {
	return h.get().UpdateTaskStatus(ctx, req)
}

func (h dispatcherHandler) PublishLogs(ctx context.Context, s *connect.ClientStream[shoalv1.PublishLogsRequest]) (*connect.Response[shoalv1.PublishLogsResponse], error) {
	return h.get().PublishLogs(ctx, s)
}

// SubscribeLogs lets the API read logs through the current dispatcher.
func (h dispatcherHandler) SubscribeLogs(ctx context.Context, nodeTasks map[string][]string, follow bool, tail int64) (<-chan *shoalv1.LogLine, error) {
	return h.get().SubscribeLogs(ctx, nodeTasks, follow, tail)
}

func (m *Manager) dispatcherConfig(spec *shoalv1.ClusterSpec) dispatcher.Config {
	cfg := dispatcher.Config{
		Version:    nodeVersion,
		IsLeader:   func() bool { return m.rn() != nil && m.rn().IsLeader() },
		NodeDown:   m.parts.nodeDown,
		DownsHeld:  m.parts.nodeDownsHeld,
		LeaderAddr: leaderRef{m}.LeaderAddr,
		Managers: func() []string {
			var out []string
			if m.rn() != nil {
				for _, mb := range m.rn().Members() {
					out = append(out, mb.Addr)
				}
			}
			slices.Sort(out)
			return out
		},
	}
	if d := spec.GetHeartbeatPeriod(); d != nil {
		cfg.HeartbeatPeriod = d.AsDuration()
	}
	if g := spec.GetHeartbeatGraceMultiplier(); g > 0 {
		cfg.GraceMultiplier = int(g)
	}
	return cfg
}

// nodeVersion is the version this manager's dispatcher speaks.
const nodeVersion = "0.1.0"

// GossipVerdict takes the gossip layer's verdict on a node (core/gossip
// Config.Liveness of this manager's own node): dead when memberlist
// declared it dead, alive when it joined or came back. The leader's
// dispatcher downs a dead node once its heartbeat is also overdue. It does
// not block.
func (m *Manager) GossipVerdict(nodeID string, dead bool) {
	if m.disp != nil {
		m.disp.verdict(nodeID, dead)
	}
}

// registerDispatcher mounts the DispatcherService.
func (m *Manager) registerDispatcher(mux *http.ServeMux, opts connect.HandlerOption) {
	m.disp = &dispatchers{}
	f, err := dispatcher.New(m.store, m.dispatcherConfig(nil), m.log.With("component", "dispatcher"))
	if err != nil {
		m.log.Error("dispatcher", "err", err)
		return
	}
	m.disp.follower = f
	m.disp.cur.Store(f)
	h := dispatcherHandler{m.disp}
	// Assignment messages are many and mostly small; gzip cost 4% of the
	// CPU at 2,400 nodes (bench/scale), so only large ones are compressed.
	mux.Handle(shoalv1connect.NewDispatcherServiceHandler(h, opts, connect.WithCompressMinBytes(64<<10)))
	m.logs = h
}

func (m *Manager) clusterSpec() *shoalv1.ClusterSpec {
	var spec *shoalv1.ClusterSpec
	_ = m.store.View(func(tx store.ReadTx) error {
		cs, _ := tx.FindClusters(store.All())
		if len(cs) > 0 {
			spec = cs[0].GetSpec()
		}
		return nil
	})
	return spec
}

// runLeaderComponents runs the leader-only pipeline until ctx ends:
// orchestrator -> allocator -> scheduler -> dispatcher, each watching the store.
func (m *Manager) runLeaderComponents(ctx context.Context) {
	log := m.log
	d, err := dispatcher.New(m.store, m.dispatcherConfig(m.clusterSpec()), log.With("component", "dispatcher"))
	if err != nil {
		log.Error("dispatcher", "err", err)
		return
	}
	m.disp.start(d)
	defer m.disp.cur.Store(m.disp.follower)

	components := map[string]func(context.Context) error{
		"orchestrator": orchestrator.New(m.store, orchestrator.WithLogger(log.With("component", "orchestrator")), orchestrator.WithReconcileObserver(m.parts.orchestrator.observe)).Run,
		"allocator": allocator.New(m.store, allocator.WithLogger(log.With("component", "allocator")), allocator.WithPolicy(m.plugins.Allocator()),
			allocator.WithPassObserver(m.parts.observeAllocatorPass)).Run,
		"scheduler": scheduler.New(m.store, scheduler.WithLogger(log.With("component", "scheduler")), scheduler.WithPolicySource(m.plugins),
			scheduler.WithPassObserver(m.parts.observeSchedulerPass), scheduler.WithShadowTap(m.plugins.ShadowTap())).Run,
		"rebalancer": rebalancer.New(m.store, m.plugins, rebalancer.WithLogger(log.With("component", "rebalancer")),
			rebalancer.WithMetrics(m.rebalance)).Run,
		"dispatcher":   d.Run,
		"rootrotation": m.runRootRotation,
	}
	var wg sync.WaitGroup
	for name, run := range components {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				err := run(ctx)
				if ctx.Err() != nil {
					return
				}
				log.Error("leader component stopped; restarting", "component", name, "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}()
	}
	wg.Wait()
}
