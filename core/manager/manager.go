package manager

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/shoal-project/shoal/core/api"
	"github.com/shoal-project/shoal/core/auth"
	"github.com/shoal-project/shoal/core/autolock"
	"github.com/shoal-project/shoal/core/ca"
	"github.com/shoal-project/shoal/core/pluginmgr"
	"github.com/shoal-project/shoal/core/raft"
	"github.com/shoal-project/shoal/core/raft/transport"
	"github.com/shoal-project/shoal/core/rebalancer"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/internal/endpoint"
	"github.com/shoal-project/shoal/internal/ids"
	"github.com/shoal-project/shoal/plugins"
)

// Bootstrap is what 'shoal init' hands the first manager.
type Bootstrap struct {
	Root *ca.RootCA
	Spec *shoalv1.ClusterSpec
	// UnlockKey, with Spec.autolock_managers, is the cluster's first
	// unlock key.
	UnlockKey *autolock.Key
}

// JoinTarget is the manager a new manager joins through.
type JoinTarget struct{ Addr string }

// Config configures a Manager.
type Config struct {
	NodeID, ClusterID string
	DataDir           string
	ListenAddr        string
	AdvertiseAddr     string
	TLS               ca.NodeTLS
	// Certs, when set, holds the node's current key pair (TLS.Certificate
	// at first): the node swaps a renewed certificate in and the manager's
	// listener and clients present it from their next handshake.
	Certs *ca.CertHolder
	// Trust, when set, holds the roots the node trusts (TLS.Roots at
	// first): the node swaps them during a root rotation.
	Trust *ca.Trust
	// DataKey is the data key a locked manager was unlocked with
	// (WaitUnlock); nil: the manager finds or makes its own.
	DataKey *autolock.DataKey
	// Exactly one of Bootstrap (init) and Join (join) is set on a new
	// manager; neither on a restart.
	Bootstrap    *Bootstrap
	Join         *JoinTarget
	TickInterval time.Duration
	Description  *shoalv1.NodeDescription
	Availability shoalv1.NodeAvailability
	Labels       map[string]string
	Logger       *slog.Logger
	// NodeMetrics, if set, is served on /metrics with the manager's own
	// (the node's agent metrics).
	NodeMetrics prometheus.Gatherer
	// RaftConnectOnly makes the manager neither offer nor use the direct
	// Raft path (core/raft/transport direct.go): its Raft messages go on
	// Connect streams, as a manager from before that path does (tests of
	// the fallback, benchmarks comparing the two).
	RaftConnectOnly bool
}

// DefaultClusterSpec is the spec 'shoal init' starts a cluster with.
func DefaultClusterSpec(heartbeat time.Duration, snapshotInterval uint64) *shoalv1.ClusterSpec {
	if heartbeat <= 0 {
		heartbeat = 5 * time.Second
	}
	if snapshotInterval == 0 {
		snapshotInterval = raft.DefaultSnapshotInterval
	}
	return &shoalv1.ClusterSpec{
		Name:                     "default",
		HeartbeatPeriod:          durationpb.New(heartbeat),
		HeartbeatGraceMultiplier: 3,
		SnapshotInterval:         snapshotInterval,
		NodeCertExpiry:           durationpb.New(90 * 24 * time.Hour),
		TaskHistoryLimit:         5,
	}
}

// Manager is one running manager.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	store *store.Store
	// raftPtr is set once Raft starts; peers may call in before that.
	raftPtr atomic.Pointer[raft.Node]
	// removed is the cluster's removed nodes as last seen by
	// followCluster (nil until then): nodeRemoved reads it without the
	// store's lock. See nodeRemoved.
	removed atomic.Pointer[[]string]
	tr      *transport.Transport
	// raftHandler serves peers' Raft messages (Connect and direct).
	raftHandler *transport.Handler
	srv         *servers
	api         *api.Server

	disp    *dispatchers
	logs    api.LogSource
	plugins *pluginmgr.Manager
	// rebalance holds the rebalancer's counters across leader terms.
	rebalance *rebalancer.Metrics
	metrics   *prometheus.Registry
	parts     *componentMetrics

	serverTLS *tls.Config
	clientTLS *tls.Config
	leaders   *leaderWatch
	// dataKey seals the Raft log (nil: a log from before encryption at
	// rest); after Start only the goroutine following the cluster uses it.
	dataKey *autolock.DataKey

	mu          sync.Mutex
	leaderStop  context.CancelFunc
	leaderDone  chan struct{}
	workerToken string

	stopOnce sync.Once
	stopped  chan struct{}
	wg       sync.WaitGroup
}

// RaftDir is where a manager keeps its Raft log and snapshots.
func RaftDir(dataDir string) string { return filepath.Join(dataDir, "raft") }

// New prepares a manager; Start runs it.
func New(cfg Config) (*Manager, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{cfg: cfg, log: cfg.Logger.With("component", "manager"), stopped: make(chan struct{}), leaders: newLeaderWatch()}
	certs := cfg.Certs
	if certs == nil {
		certs = ca.NewCertHolder(cfg.TLS.Certificate)
	}
	trust := cfg.Trust
	if trust == nil {
		trust = cfg.TLS.Trust()
	}
	m.serverTLS = ca.ServerTLSConfigFromHolder(trust, certs)
	m.clientTLS = ca.ClientTLSConfigFromHolder(trust, certs, "")
	return m, nil
}

// proposer lets the store be built before the Raft node it proposes to.
type proposer struct{ m *Manager }

func (p proposer) Propose(ctx context.Context, payload []byte) error {
	return p.ProposeDecoded(ctx, payload, nil)
}

// ProposeDecoded hands the store's in-memory request along so the leader
// applies its own entries without decoding them (store.DecodedProposer).
func (p proposer) ProposeDecoded(ctx context.Context, payload []byte, decoded any) error {
	if p.m.rn() == nil {
		return raft.ErrNotLeader
	}
	start := time.Now()
	err := p.m.rn().ProposeDecoded(ctx, payload, decoded)
	p.m.parts.observeProposal(time.Since(start), err)
	return err
}

func (m *Manager) raftClient(addr string) shoalv1connect.RaftServiceClient {
	return shoalv1connect.NewRaftServiceClient(transport.NewHTTPClient(m.clientTLS), "https://"+addr, connect.WithGRPC())
}

// Start starts Raft, the servers and the leadership loop.
func (m *Manager) Start(ctx context.Context) error {
	cfg := m.cfg
	m.initMetrics()
	m.store = store.New(proposer{m}, store.WithLogger(m.log.With("component", "store")))
	topts := transport.Options{Client: m.raftClient, Logger: m.log.With("component", "raft-transport")}
	if !cfg.RaftConnectOnly {
		topts.Dial = transport.TLSDialer(m.clientTLS, nil)
	}
	m.tr = transport.New(topts)
	rcfg := raft.Config{
		NodeID: cfg.NodeID, Addr: cfg.AdvertiseAddr, DataDir: RaftDir(cfg.DataDir),
		StateMachine: timedSnapshots{m.store, m.parts}, Transport: m.tr, TickInterval: cfg.TickInterval,
		OnTickLateness: m.parts.observeTickLateness, Logger: m.log.With("component", "raft"),
	}
	if cfg.Bootstrap != nil {
		if sn := cfg.Bootstrap.Spec.GetSnapshotInterval(); sn != 0 {
			rcfg.SnapshotInterval = sn
		}
	}
	if err := os.MkdirAll(rcfg.DataDir, 0o700); err != nil {
		return err
	}
	if err := m.useDataKey(&rcfg); err != nil {
		return err
	}

	// Serve before Raft starts: peers must reach us as soon as we are a member.
	pm, err := pluginmgr.New(m.store, plugins.HostConfig{CacheDir: filepath.Join(cfg.DataDir, "plugin-cache"), Registerer: m.metrics}, m.log.With("component", "plugins"))
	if err != nil {
		return fmt.Errorf("plugin host: %w", err)
	}
	m.plugins = pm
	m.rebalance = rebalancer.NewMetrics(m.metrics)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-m.stopped; cancel() }()
		if err := pm.Run(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("plugin loader stopped", "err", err)
		}
	}()
	events := m.startEventHistory()
	m.api = api.New(m.store, raftCluster{m}, m.log.With("component", "api"), api.WithLogs(logSourceRef{m}), api.WithPlugins(pm), api.WithEvents(events))
	handler := m.handler()
	var direct *transport.Handler
	if !cfg.RaftConnectOnly {
		direct = m.raftHandler
	}
	srv, err := startServers(cfg.ListenAddr, filepath.Join(cfg.DataDir, endpoint.SocketName), m.serverTLS, handler, direct, m.authorizeRaftConn, m.log)
	if err != nil {
		return err
	}
	m.srv = srv

	var rn *raft.Node
	switch {
	case cfg.Bootstrap != nil:
		rn, err = raft.Bootstrap(rcfg)
	case cfg.Join != nil:
		var id uint64
		var members []raft.Member
		id, members, err = m.joinRaft(ctx, cfg.Join.Addr)
		if err == nil {
			rcfg.ID = id
			rn, err = raft.Join(rcfg, id, members, nil)
		}
	default:
		rn, err = raft.Restart(rcfg)
	}
	if err != nil {
		srv.close(ctx)
		return fmt.Errorf("raft: %w", err)
	}
	m.raftPtr.Store(rn)
	m.wg.Add(2)
	go m.leadershipLoop()
	go m.followSnapshotInterval()
	if cfg.Bootstrap != nil {
		if err := m.waitBootstrapped(ctx); err != nil {
			m.Stop()
			return err
		}
	}
	return nil
}

// useDataKey seals rcfg's Raft log with the manager's data key.
func (m *Manager) useDataKey(rcfg *raft.Config) error {
	dk, err := m.openDataKey(rcfg.DataDir)
	if err != nil {
		return fmt.Errorf("data key: %w", err)
	}
	if dk == nil {
		return nil
	}
	c, err := autolock.NewCipher(dk.Key)
	if err != nil {
		return err
	}
	m.dataKey, rcfg.Cipher = dk, c
	return nil
}

// joinRaft asks the cluster (through addr, following one redirect) to add us.
func (m *Manager) joinRaft(ctx context.Context, addr string) (uint64, []raft.Member, error) {
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		ctx1, cancel := context.WithTimeout(ctx, 10*time.Second)
		id, members, err := transport.JoinCluster(ctx1, m.raftClient(addr), m.cfg.AdvertiseAddr)
		cancel()
		if err == nil {
			return id, members, nil
		}
		lastErr = err
		if l := transport.LeaderFromError(err); l != "" && l != addr {
			addr = l
			continue
		}
		select {
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return 0, nil, fmt.Errorf("join the managers' raft group through %s: %w", addr, lastErr)
}

// handler builds the one handler serving every service.
func (m *Manager) handler() http.Handler {
	mux := http.NewServeMux()
	opts := connect.WithInterceptors(auth.NewInterceptor(auth.DefaultPolicy()), auth.NewRemovedInterceptor(m.nodeRemoved))
	mux.Handle(shoalv1connect.NewControlServiceHandler(m.api, opts))
	mux.Handle(shoalv1connect.NewCAServiceHandler(m.api.CA(), opts))
	m.raftHandler = transport.NewHandler(raftNodeRef{m}, transport.HandlerOptions{
		NodeID: func(ctx context.Context) (string, error) {
			id, ok := auth.FromContext(ctx)
			if !ok || id.NodeID == "" {
				return "", errors.New("no node identity")
			}
			return id.NodeID, nil
		},
		Logger: m.log.With("component", "raft-handler"),
	})
	mux.Handle(shoalv1connect.NewRaftServiceHandler(m.raftHandler, opts))
	m.registerDispatcher(mux, opts)
	mux.Handle("/metrics", MetricsHandler(m.gatherer()))
	addHealthAndReflection(mux, grpchealth.NewStaticChecker(serviceNames...), opts)
	fw := newForwarder(m.leaders, m.cfg.NodeID, []string{
		"/" + shoalv1connect.ControlServiceName + "/",
		shoalv1connect.CAServiceIssueNodeCertificateProcedure,
		shoalv1connect.CAServiceNodeCertificateStatusProcedure,
		shoalv1connect.RaftServiceJoinProcedure,
		shoalv1connect.RaftServiceLeaveProcedure,
	}, func() *tls.Config { return m.clientTLS }, m.log.With("component", "forwarder"), defaultForwardOptions())
	return fw.wrap(mux)
}

// authorizeRaftConn admits a direct Raft connection (transport.ProtoRaft) on
// the terms the Connect handler's interceptors set for the RaftService: a
// verified manager certificate (the same policy) of a node not removed.
func (m *Manager) authorizeRaftConn(cs tls.ConnectionState) error {
	id, ok, reason := auth.IdentityFromTLS(&cs)
	if err := auth.DefaultPolicy().Authorize(shoalv1connect.RaftServiceStreamRaftMessageProcedure, id, ok); err != nil {
		if !ok {
			return fmt.Errorf("%w (%s)", err, reason)
		}
		return err
	}
	if id.NodeID != "" && m.nodeRemoved(id.NodeID) {
		return auth.NodeRemovedError(id.NodeID)
	}
	return nil
}

// waitBootstrapped waits until the first manager has written the cluster.
func (m *Manager) waitBootstrapped(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		var ok bool
		_ = m.store.View(func(tx store.ReadTx) error {
			cs, _ := tx.FindClusters(store.All())
			ok = len(cs) > 0
			if ok {
				m.mu.Lock()
				m.workerToken = cs[0].GetJoinTokens().GetWorker()
				m.mu.Unlock()
			}
			return nil
		})
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster bootstrap: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// bootstrapCluster writes the cluster object and this node, once.
func (m *Manager) bootstrapCluster(ctx context.Context) error {
	b := m.cfg.Bootstrap
	if b == nil {
		return nil
	}
	var exists bool
	_ = m.store.View(func(tx store.ReadTx) error {
		cs, _ := tx.FindClusters(store.All())
		exists = len(cs) > 0
		return nil
	})
	if exists {
		return nil
	}
	wt, err := ca.NewJoinToken(b.Root, rand.Reader)
	if err != nil {
		return err
	}
	mt, err := ca.NewJoinToken(b.Root, rand.Reader)
	if err != nil {
		return err
	}
	cluster := &shoalv1.Cluster{
		Id:         m.cfg.ClusterID,
		Spec:       b.Spec,
		RootCa:     &shoalv1.RootCA{CaCertPem: b.Root.CertPEM, CaKeyPem: b.Root.KeyPEM, Digest: b.Root.Digest()},
		JoinTokens: &shoalv1.JoinTokens{Worker: wt.String(), Manager: mt.String()},
	}
	if b.UnlockKey != nil {
		cluster.UnlockKey = b.UnlockKey[:]
	}
	self := &shoalv1.Node{
		Id:          m.cfg.NodeID,
		Spec:        &shoalv1.NodeSpec{DesiredRole: shoalv1.NodeRole_NODE_ROLE_MANAGER, Availability: cmp.Or(m.cfg.Availability, shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE), Labels: m.cfg.Labels},
		Description: m.cfg.Description,
		Status:      &shoalv1.NodeStatus{State: shoalv1.NodeState_NODE_STATE_UNKNOWN, Addr: m.cfg.AdvertiseAddr},
		Role:        shoalv1.NodeRole_NODE_ROLE_MANAGER,
	}
	return m.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.Create(cluster); err != nil {
			return err
		}
		if err := tx.Create(api.IngressNetwork(ids.New())); err != nil {
			return err
		}
		return tx.Create(self)
	})
}

// leadershipLoop starts the leader components when this manager leads and
// stops them when it does not.
func (m *Manager) leadershipLoop() {
	defer m.wg.Done()
	m.wg.Add(1)
	go m.watchLeader() // who leads, for the forwarder
	ch := m.rn().LeaderChanges()
	lead := m.rn().IsLeader()
	if lead {
		m.becomeLeader()
	}
	for {
		select {
		case <-m.stopped:
			m.stopLeading()
			return
		case <-m.rn().Done():
			m.stopLeading()
			return
		case l, ok := <-ch:
			if !ok {
				m.stopLeading()
				return
			}
			if l == lead {
				continue
			}
			lead = l
			if l {
				m.becomeLeader()
			} else {
				m.stopLeading()
			}
		}
	}
}

func (m *Manager) becomeLeader() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leaderStop != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	m.leaderStop, m.leaderDone = cancel, done
	m.log.Info("this manager is now the leader")
	go func() {
		defer close(done)
		if err := m.bootstrapCluster(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("bootstrap the cluster", "err", err)
		}
		m.runLeaderComponents(ctx)
	}()
}

func (m *Manager) stopLeading() {
	m.mu.Lock()
	stop, done := m.leaderStop, m.leaderDone
	m.leaderStop, m.leaderDone = nil, nil
	m.mu.Unlock()
	if stop != nil {
		m.log.Info("this manager stopped leading")
		stop()
		<-done
	}
}

// Stop stops the manager; its data stays on disk.
func (m *Manager) Stop() {
	m.stopOnce.Do(func() {
		close(m.stopped)
		m.stopLeading() // ends the dispatcher's sessions before the servers drain
		if m.srv != nil {
			m.srv.close(context.Background())
		}
		m.wg.Wait()
		if m.rn() != nil {
			_ = m.rn().Stop()
		}
		if m.tr != nil {
			m.tr.Stop()
		}
		m.store.Close()
		if m.plugins != nil {
			_ = m.plugins.Close()
		}
	})
}

// WorkerToken is the worker join token (known after bootstrap).
func (m *Manager) WorkerToken() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.workerToken
}

// Addr is the address the TLS listener is bound to.
func (m *Manager) Addr() string { return m.srv.addr() }

// Store is the manager's replicated store (read-only use outside).
func (m *Manager) Store() *store.Store { return m.store }

// rn is the Raft node, nil until it starts.
func (m *Manager) rn() *raft.Node { return m.raftPtr.Load() }

// Raft is the manager's Raft node.
func (m *Manager) Raft() *raft.Node { return m.rn() }

// Removed is closed when this manager was removed from the Raft group.
func (m *Manager) Removed() <-chan struct{} { return m.rn().Removed() }
