package api

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/store"
)

// Member is one manager in the Raft group as the leader sees it.
type Member struct {
	RaftID    uint64
	NodeID    string
	Addr      string
	Reachable bool
	Leader    bool
	Learner   bool // non-voting until the leader promotes it
}

// Cluster is the Raft group, as the API needs it.
type Cluster interface {
	// ReadBarrier returns once the local store holds every write committed
	// before the call (Raft ReadIndex); it fails on a follower.
	ReadBarrier(ctx context.Context) error
	Members() []Member
	RemoveMember(ctx context.Context, raftID uint64) error
	// TransferLeadership hands leadership to the best reachable member.
	TransferLeadership(ctx context.Context) error
	Status() (term, applied uint64)
}

// LogSource streams task logs from the nodes running them.
type LogSource interface {
	SubscribeLogs(ctx context.Context, nodeTasks map[string][]string, follow bool, tail int64) (<-chan *shoalv1.LogLine, error)
}

// Option configures a Server.
type Option func(*Server)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithRand sets the randomness for tokens (tests).
func WithRand(r io.Reader) Option { return func(s *Server) { s.rand = r } }

// WithLogs sets where ServiceLogs reads from.
func WithLogs(l LogSource) Option { return func(s *Server) { s.logs = l } }

// WithPlugins sets the plugin manager for the plugin calls.
func WithPlugins(p Plugins) Option { return func(s *Server) { s.plugins = p } }

// Server answers ControlService and CAService calls on a manager.
type Server struct {
	shoalv1connect.UnimplementedControlServiceHandler
	store   *store.Store
	cluster Cluster
	log     *slog.Logger
	now     func() time.Time
	rand    io.Reader
	logs    LogSource
	plugins Plugins
	events  *EventHistory
}

// New returns the API server over st.
func New(st *store.Store, cluster Cluster, log *slog.Logger, opts ...Option) *Server {
	s := &Server{store: st, cluster: cluster, log: log, now: time.Now, rand: rand.Reader}
	for _, o := range opts {
		o(s)
	}
	return s
}

// read runs fn on a linearizable view of the store.
func (s *Server) read(ctx context.Context, fn func(store.ReadTx) error) error {
	if local, _ := ctx.Value(localReadKey{}).(bool); !local {
		if err := s.cluster.ReadBarrier(ctx); err != nil {
			return storeErr(err)
		}
	}
	return storeErr(s.store.View(fn))
}

// cluster returns the one cluster object.
func clusterObj(tx store.ReadTx) (*shoalv1.Cluster, error) {
	cs, err := tx.FindClusters(store.All())
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, precondition("the cluster is not initialised yet; retry in a moment")
	}
	return proto.CloneOf(cs[0]), nil // a copy: reads are shared, callers change it
}

type localReadKey struct{}

// WithLocalRead marks a call as a local (serializable, possibly stale) read:
// reads skip the leader's ReadIndex barrier and answer from this manager.
func WithLocalRead(ctx context.Context) context.Context {
	return context.WithValue(ctx, localReadKey{}, true)
}
