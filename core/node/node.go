package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/shoal-project/shoal/core/autolock"
	"github.com/shoal-project/shoal/core/ca"
	"github.com/shoal-project/shoal/core/manager"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/ids"
)

// Version is the agent and manager version carried in session handshakes.
const Version = "0.1.0"

// Config is what a node is started with.
type Config struct {
	DataDir            string
	ListenAddr         string
	AdvertiseAddr      string
	Hostname           string
	Backend            string
	ContainerdAddress  string
	InsecureRegistries []string
	TickInterval       time.Duration
	// RaftConnectOnly: see manager.Config (tests and benchmarks).
	RaftConnectOnly bool
	HeartbeatPeriod time.Duration
	// CertExpiry is the node certificates' validity set at init
	// (0: ca.DefaultNodeCertLifetime); nodes renew theirs before it ends.
	CertExpiry       time.Duration
	SnapshotInterval uint64
	Availability     string
	Labels           map[string]string
	// GossipPort is where the node's gossip member listens, on its
	// advertise address (0: DefaultGossipPort).
	GossipPort int
	// Autolock, at init, turns the cluster's autolock on: Info.UnlockKey
	// is its unlock key.
	Autolock bool
	// WireGuardPort is where the node's tunnel for encrypted networks
	// listens (0: wireguard.DefaultPort, 51820); WireGuardKeyRotation how
	// often it makes a new key (0: netagent.DefaultKeyRotation, 12 h).
	WireGuardPort        int
	WireGuardKeyRotation time.Duration
	Logger               *slog.Logger
}

// DefaultGossipPort is the gossip port (swarm's).
const DefaultGossipPort = 7946

// Info describes a running node.
type Info struct {
	NodeID        string
	ClusterID     string
	Role          string
	AdvertiseAddr string
	WorkerToken   string
	// UnlockKey is the unlock key of a cluster init made with Autolock.
	UnlockKey string
}

// Node is a running shoal node.
type Node struct {
	cfg  Config
	st   *state
	tlsM ca.NodeTLS
	// certs presents the current certificate to every TLS config of the
	// node (manager listener and clients, agent, CA client); renewAt is
	// when it is due for renewal.
	certs *ca.CertHolder
	// trust holds the roots every TLS config of the node trusts; a root
	// rotation replaces them (see rotation.go).
	trust   *ca.Trust
	renewAt time.Time
	// dataKey is what a locked manager was unlocked with, for its first
	// start only (a promotion starts from an empty Raft directory).
	dataKey *autolock.DataKey
	log     *slog.Logger
	mgr     *manager.Manager
	info    Info
	agent   stopper
	metrics *agentMetrics

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	once   sync.Once
	mu     sync.Mutex // guards mgr, tlsM, st, info, agent
}

type stopper interface{ Stop() }

func (c *Config) defaults() error {
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if c.DataDir == "" {
		return errors.New("--data-dir is required")
	}
	if _, err := ParseAvailability(c.Availability); err != nil {
		return err
	}
	if c.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return err
		}
		c.Hostname = h
	}
	return nil
}

func (c *Config) advertise() (string, error) {
	if c.AdvertiseAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdvertiseAddr); err != nil {
			return "", fmt.Errorf("--advertise-addr %q: want host:port", c.AdvertiseAddr)
		}
		return c.AdvertiseAddr, nil
	}
	host, port, err := net.SplitHostPort(c.ListenAddr)
	if err != nil {
		return "", fmt.Errorf("--listen-addr %q: want host:port", c.ListenAddr)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() || host == "" {
		return "", fmt.Errorf("--listen-addr %s listens on all addresses: give --advertise-addr host:port", c.ListenAddr)
	}
	return net.JoinHostPort(host, port), nil
}

func (c *Config) description(backend string) *shoalv1.NodeDescription {
	return &shoalv1.NodeDescription{
		Hostname:     c.Hostname,
		Os:           runtime.GOOS,
		Arch:         runtime.GOARCH,
		Backend:      backend,
		AgentVersion: Version,
		Resources:    hostResources(),
	}
}

// ParseAvailability reads an availability flag: active, pause or drain
// ("" is active).
func ParseAvailability(s string) (shoalv1.NodeAvailability, error) {
	switch strings.ToLower(s) {
	case "", "active":
		return shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE, nil
	case "pause":
		return shoalv1.NodeAvailability_NODE_AVAILABILITY_PAUSE, nil
	case "drain":
		return shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN, nil
	}
	return 0, fmt.Errorf("--availability %q: use active, pause or drain", s)
}

// availability is c.Availability, checked by defaults.
func (c *Config) availability() shoalv1.NodeAvailability {
	a, _ := ParseAvailability(c.Availability)
	return a
}

func certDir(dataDir string) string { return filepath.Join(dataDir, "certs") }

// Init creates a new cluster with this node as its first manager and starts it.
func Init(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := ensureNoNode(cfg.DataDir); err != nil {
		return nil, err
	}
	adv, err := cfg.advertise()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	clusterID, nodeID := ids.New(), ids.New()
	root, err := ca.NewRootCA(clusterID, time.Now())
	if err != nil {
		return nil, err
	}
	keyPEM, csr, err := ca.NewKeyAndCSR()
	if err != nil {
		return nil, err
	}
	if cfg.CertExpiry != 0 && (cfg.CertExpiry < ca.MinNodeCertLifetime || cfg.CertExpiry > ca.RootLifetime) {
		return nil, fmt.Errorf("--cert-expiry %s: use %s to %s", cfg.CertExpiry, ca.MinNodeCertLifetime, ca.RootLifetime)
	}
	certPEM, err := root.IssueNodeCert(csr, nodeID, clusterID, ca.RoleManager, cfg.certNotAfter(), ca.WithSANs(hostOf(adv), cfg.Hostname))
	if err != nil {
		return nil, err
	}
	if err := ca.SaveNodeTLS(certDir(cfg.DataDir), certPEM, keyPEM, root.CertPEM); err != nil {
		return nil, err
	}
	if err := writeAdminCert(cfg.DataDir, root, clusterID); err != nil {
		return nil, err
	}
	st := newState(cfg, nodeID, clusterID, ca.RoleManager, adv, adv)
	boot := &manager.Bootstrap{Root: root, Spec: initialSpec(cfg)}
	if cfg.Autolock {
		k, err := autolock.NewKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		boot.Spec.AutolockManagers, boot.UnlockKey = true, &k
	}
	n, err := startNew(ctx, cfg, st, boot, nil)
	if err == nil && boot.UnlockKey != nil {
		n.info.UnlockKey = boot.UnlockKey.String()
	}
	return n, err
}

// newState is what node.json records of a node this process creates.
func newState(cfg Config, nodeID, clusterID string, role ca.Role, adv, manager string) *state {
	return &state{NodeID: nodeID, ClusterID: clusterID, Role: string(role), ListenAddr: cfg.ListenAddr, AdvertiseAddr: adv, Managers: []string{manager}, Backend: backendOr(cfg.Backend), Hostname: cfg.Hostname, ContainerdAddress: cfg.ContainerdAddress, InsecureRegistries: cfg.InsecureRegistries}
}

// startNew starts a node just created in cfg.DataDir and records it; if it
// cannot start, what the creation wrote is removed.
func startNew(ctx context.Context, cfg Config, st *state, boot *manager.Bootstrap, join *manager.JoinTarget) (*Node, error) {
	n, err := start(ctx, cfg, st, boot, join)
	if err != nil {
		cleanPartial(cfg.DataDir)
		return nil, err
	}
	if err := n.saveState(); err != nil {
		n.Stop()
		return nil, err
	}
	return n, nil
}

func initialSpec(cfg Config) *shoalv1.ClusterSpec {
	spec := manager.DefaultClusterSpec(cfg.HeartbeatPeriod, cfg.SnapshotInterval)
	if cfg.CertExpiry > 0 {
		spec.NodeCertExpiry = durationpb.New(cfg.CertExpiry)
	}
	return spec
}

// certNotAfter is when the first manager's certificate expires.
func (c *Config) certNotAfter() time.Time {
	if c.CertExpiry > 0 {
		return time.Now().Add(c.CertExpiry)
	}
	return time.Time{}
}

func backendOr(b string) string {
	if b == "" {
		return "process"
	}
	return b
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// writeAdminCert issues an admin certificate into dataDir/admin for
// 'shoal --host ADDR' from another machine.
func writeAdminCert(dataDir string, root *ca.RootCA, clusterID string) error {
	keyPEM, csr, err := ca.NewKeyAndCSR()
	if err != nil {
		return err
	}
	certPEM, err := root.IssueNodeCert(csr, "admin-"+ids.New()[:12], clusterID, ca.RoleAdmin, time.Time{})
	if err != nil {
		return err
	}
	return ca.SaveNodeTLS(filepath.Join(dataDir, "admin"), certPEM, keyPEM, root.CertPEM)
}

// Join asks the manager at addr for a certificate with token and starts the
// node as a worker or a manager, as the token says.
func Join(ctx context.Context, cfg Config, token, addr string) (*Node, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := ensureNoNode(cfg.DataDir); err != nil {
		return nil, err
	}
	if _, err := ca.ParseJoinToken(token); err != nil {
		return nil, fmt.Errorf("--token: %w", err)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("manager address %q: want host:port", addr)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	root, err := FetchRoot(ctx, token, addr)
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", addr, err)
	}
	keyPEM, csr, err := ca.NewKeyAndCSR()
	if err != nil {
		return nil, err
	}
	adv := cfg.AdvertiseAddr
	if adv == "" && cfg.ListenAddr != "" {
		if a, err := cfg.advertise(); err == nil {
			adv = a
		}
	}
	caClient := caServiceClient(ca.ClientTLSConfig(root, nil, ""), addr)
	res, err := caClient.IssueNodeCertificate(ctx, connect.NewRequest(&shoalv1.IssueNodeCertificateRequest{
		Token: token, Csr: csr, Hostname: cfg.Hostname, AdvertiseAddr: adv,
		Description:  cfg.description(backendOr(cfg.Backend)),
		Availability: cfg.availability(), Labels: cfg.Labels,
	}))
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", addr, err)
	}
	role := ca.RoleWorker
	if res.Msg.GetRole() == shoalv1.NodeRole_NODE_ROLE_MANAGER {
		role = ca.RoleManager
		if adv == "" {
			return nil, errors.New("a manager needs --listen-addr (and --advertise-addr when listening on all addresses)")
		}
	}
	if err := ca.SaveNodeTLS(certDir(cfg.DataDir), res.Msg.GetCertificate(), keyPEM, res.Msg.GetRootCertificate()); err != nil {
		return nil, err
	}
	st := newState(cfg, res.Msg.GetNodeId(), res.Msg.GetClusterId(), role, adv, addr)
	var join *manager.JoinTarget
	if role == ca.RoleManager {
		join = &manager.JoinTarget{Addr: addr}
	}
	return startNew(ctx, cfg, st, nil, join)
}

// Run restarts the node recorded in cfg.DataDir.
func Run(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("--data-dir is required")
	}
	st, err := loadState(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if st.Removed {
		return nil, (&Node{cfg: cfg, st: st}).removedError()
	}
	if cfg.Hostname == "" {
		cfg.Hostname = st.Hostname
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.Backend != "" {
		st.Backend = cfg.Backend
	}
	if cfg.ContainerdAddress != "" {
		st.ContainerdAddress = cfg.ContainerdAddress
	}
	if len(cfg.InsecureRegistries) > 0 {
		st.InsecureRegistries = cfg.InsecureRegistries
	}
	cfg.ContainerdAddress, cfg.InsecureRegistries = st.ContainerdAddress, st.InsecureRegistries
	return start(ctx, cfg, st, nil, nil)
}

func start(ctx context.Context, cfg Config, st *state, boot *manager.Bootstrap, join *manager.JoinTarget) (*Node, error) {
	tlsM, err := ca.LoadNodeTLS(certDir(cfg.DataDir))
	if err != nil {
		return nil, fmt.Errorf("node certificates: %w", err)
	}
	var dk *autolock.DataKey
	if st.Role == string(ca.RoleManager) && manager.Locked(cfg.DataDir) {
		if dk, err = manager.WaitUnlock(ctx, cfg.DataDir, cfg.Logger.With("node", st.NodeID)); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	n := &Node{dataKey: dk, cfg: cfg, st: st, tlsM: tlsM, certs: ca.NewCertHolder(tlsM.Certificate), trust: tlsM.Trust(), log: cfg.Logger.With("node", st.NodeID), ctx: ctx, cancel: cancel, done: make(chan struct{}), metrics: newAgentMetrics()}
	if err := n.serveMetrics(ctx); err != nil {
		n.log.Warn("node metrics socket", "err", err)
	}
	n.renewAt = renewTime(tlsM, n.log)
	n.info = Info{NodeID: st.NodeID, ClusterID: st.ClusterID, Role: st.Role, AdvertiseAddr: st.AdvertiseAddr}
	if st.Role == string(ca.RoleManager) {
		m, err := manager.New(n.managerConfig(tlsM, boot, join))
		if err != nil {
			cancel()
			return nil, err
		}
		if err := m.Start(ctx); err != nil {
			cancel()
			return nil, err
		}
		n.mgr = m
		n.info.WorkerToken = m.WorkerToken()
		go n.watchRemoved(m)
	}
	if err := n.restartAgent(); err != nil {
		if n.mgr != nil {
			n.mgr.Stop()
		}
		cancel()
		return nil, err
	}
	go n.watchRole(ctx)
	go func() {
		<-ctx.Done()
		n.shutdown()
	}()
	return n, nil
}

func (n *Node) managerConfig(tlsM ca.NodeTLS, boot *manager.Bootstrap, join *manager.JoinTarget) manager.Config {
	return manager.Config{
		NodeID: n.st.NodeID, ClusterID: n.st.ClusterID, DataDir: n.cfg.DataDir,
		ListenAddr: n.st.ListenAddr, AdvertiseAddr: n.st.AdvertiseAddr,
		TLS: tlsM, Certs: n.certs, Trust: n.trust, DataKey: n.dataKey, Bootstrap: boot, Join: join, TickInterval: n.cfg.TickInterval,
		Description: n.cfg.description(n.st.Backend), Logger: n.log,
		Availability: n.cfg.availability(), Labels: n.cfg.Labels, NodeMetrics: n.metrics.reg,
		RaftConnectOnly: n.cfg.RaftConnectOnly,
	}
}

func (n *Node) shutdown() {
	n.once.Do(func() {
		n.mu.Lock()
		ag, m := n.agent, n.mgr
		n.mu.Unlock()
		if ag != nil {
			ag.Stop()
		}
		if m != nil {
			m.Stop()
		}
		close(n.done)
	})
}

// Info describes the node.
func (n *Node) Info() Info {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.info
}

// Wait blocks until the node stops (its context ends or Stop is called).
func (n *Node) Wait() error {
	<-n.done
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}

// Stop stops the node.
func (n *Node) Stop() {
	n.cancel()
	<-n.done
}

// Manager returns the node's manager, or nil on a worker.
func (n *Node) Manager() *manager.Manager {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mgr
}

// removedError explains ErrRemoved for this node and says how to come back.
func (n *Node) removedError() error {
	return fmt.Errorf("%w (shoal node rm): node %s left it and removed its tasks; to join again, delete %s and run 'shoal join'", ErrRemoved, n.st.NodeID, n.cfg.DataDir)
}

// cleanPartial removes what a failed init or join wrote, so it can be retried.
func cleanPartial(dataDir string) {
	for _, d := range []string{"certs", "admin", "raft", "agent", "process", "containerd", stateFile} {
		_ = os.RemoveAll(filepath.Join(dataDir, d))
	}
}

func (n *Node) saveState() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.st.save(n.cfg.DataDir)
}

// ensureNoNode refuses to init or join into a data dir that holds a node.
func ensureNoNode(dataDir string) error {
	if _, err := loadState(dataDir); err == nil {
		return fmt.Errorf("data dir %s already holds a node: start it with 'shoal run', or pick another --data-dir", dataDir)
	}
	return nil
}
