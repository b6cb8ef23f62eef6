package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/rebalancer"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/plugins"
)

// Bounds of a RebalanceConfig's durations.
const (
	minRebalanceInterval = time.Second
	maxRebalanceMoves    = 1000
)

// validateRebalance checks the shape of a rebalance config (field names
// the config's place in the request, e.g. "spec.rebalance").
func validateRebalance(field string, rc *shoalv1.RebalanceConfig) error {
	if rc == nil {
		return nil
	}
	if d := rc.GetInterval(); d != nil && d.AsDuration() != 0 && d.AsDuration() < minRebalanceInterval {
		return invalidArg("%s.interval %s: use at least %s (0 = %s)", field, d.AsDuration(), minRebalanceInterval, rebalancer.DefaultInterval)
	}
	if d := rc.GetWindow(); d != nil && d.AsDuration() < 0 {
		return invalidArg("%s.window %s: use a positive duration (0 = %s)", field, d.AsDuration(), rebalancer.DefaultWindow)
	}
	if rc.GetMaxMoves() > maxRebalanceMoves {
		return invalidArg("%s.max_moves %d: use 0 to %d", field, rc.GetMaxMoves(), maxRebalanceMoves)
	}
	if rc.GetDisabled() && rc.GetPlugin() != "" {
		return invalidArg("%s: give a plugin or disabled, not both", field)
	}
	return nil
}

// checkRebalancePlugin checks, in the transaction that stores it, that a
// rebalance config names a rebalancer plugin that exists.
func (s *Server) checkRebalancePlugin(tx store.ReadTx, field string, rc *shoalv1.RebalanceConfig) error {
	name := rc.GetPlugin()
	if name == "" {
		return nil
	}
	kind, err := s.pluginKindIn(tx, name)
	if err != nil {
		var ce *connect.Error
		if errors.As(err, &ce) && ce.Code() == connect.CodeNotFound {
			return notFoundDetail(KindPlugin, name, fmt.Sprintf("%s.plugin %q: no such plugin (the built-in rebalancer is evener; install one of kind rebalancer first)", field, name))
		}
		return err
	}
	if kind != shoalv1.PluginKind_PLUGIN_KIND_REBALANCER {
		return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("%s.plugin %q is a %s plugin, not a rebalancer: name a rebalancer (the built-in one is evener)", field, name, kindWord(kind)))
	}
	return nil
}

// installError is the coded error for a module that failed validation as
// kind: a module that lacks what the kind needs (a rebalancer export, the
// capability) is refused with FailedPrecondition, anything else is an
// invalid argument.
func installError(kind shoalv1.PluginKind, err error) error {
	if kind == shoalv1.PluginKind_PLUGIN_KIND_REBALANCER && (errors.Is(err, plugins.ErrMissingExport) || errors.Is(err, plugins.ErrCapability)) {
		return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("wasm: cannot install as a rebalancer: %v (build it with sdk.RegisterRebalancer)", err))
	}
	return invalidArg("wasm: %v", err)
}

// testRebalance answers TestPlugin for a rebalancer: the moves wasm would
// propose for the service now, each with the host's verdict.
func (s *Server) testRebalance(ctx context.Context, pl Plugins, wasm []byte, service string) (*shoalv1.TestPluginResponse, error) {
	dr, ok := pl.(RebalanceDryRunner)
	if !ok {
		return nil, connect.NewError(connect.CodeUnimplemented, fmt.Errorf("this manager cannot dry-run rebalancers"))
	}
	if err := s.cluster.ReadBarrier(ctx); err != nil {
		return nil, storeErr(err)
	}
	st := &rebalancer.State{Now: s.now()}
	err := s.store.View(func(tx store.ReadTx) error {
		svc, err := resolveService(tx, service)
		if err != nil {
			return err
		}
		st.Service = svc
		var spec *shoalv1.ClusterSpec
		if cs, _ := tx.FindClusters(store.All()); len(cs) > 0 {
			spec = cs[0].GetSpec()
		}
		if c, ok := rebalancer.ConfigFor(spec, svc); ok {
			st.Config = c
		} else {
			st.Config = rebalancer.Config{Interval: rebalancer.DefaultInterval, Window: rebalancer.DefaultWindow, MaxMoves: rebalancer.DefaultMaxMoves}
			if p := svc.GetSpec().GetUpdateConfig().GetParallelism(); p > 0 {
				st.Config.MaxMoves = int(p)
			}
		}
		if st.Tasks, err = tx.FindTasks(store.ByService(svc.GetId())); err != nil {
			return err
		}
		if st.Nodes, err = tx.FindNodes(store.All()); err != nil {
			return err
		}
		for state := shoalv1.TaskState_TASK_STATE_ASSIGNED; state <= shoalv1.TaskState_TASK_STATE_RUNNING; state++ {
			ts, err := tx.FindTasks(store.ByTaskState(state))
			if err != nil {
				return err
			}
			st.Holding = append(st.Holding, ts...)
		}
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	moves, took, err := dr.RebalanceDryRun(ctx, wasm, st)
	if err != nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("dry run: %w", err))
	}
	hostname := make(map[string]string, len(st.Nodes))
	for _, n := range st.Nodes {
		hostname[n.GetId()] = n.GetDescription().GetHostname()
	}
	name := func(id string) string {
		if h := hostname[id]; h != "" {
			return h
		}
		return id
	}
	out := &shoalv1.TestPluginResponse{Duration: took.Round(time.Microsecond).String(), Moves: []*shoalv1.TestMove{}}
	for _, m := range moves {
		out.Moves = append(out.Moves, &shoalv1.TestMove{Task: m.TaskID, Slot: m.Slot, FromNode: name(m.From), ToNode: name(m.To), Rejected: m.Rejected})
	}
	return out, nil
}

// RebalanceDryRunner is the part of the plugin manager that dry-runs
// rebalancers (pluginmgr.Manager implements it).
type RebalanceDryRunner interface {
	RebalanceDryRun(ctx context.Context, wasm []byte, s *rebalancer.State) ([]rebalancer.Move, time.Duration, error)
}

// activateRebalancer makes name the cluster's rebalancer (plugin activate
// of a rebalancer plugin), keeping the cluster's other rebalance settings.
func activateRebalancer(sp *shoalv1.ClusterSpec, name string) {
	rc := proto.CloneOf(sp.GetRebalance())
	if rc == nil {
		rc = &shoalv1.RebalanceConfig{}
	}
	rc.Plugin, rc.Disabled = name, false
	sp.Rebalance = rc
}

// clusterRebalancer is the cluster's rebalancer plugin ("" = none): what
// plugin ls marks active among the rebalancers.
func clusterRebalancer(tx store.ReadTx) string {
	if cs, _ := tx.FindClusters(store.All()); len(cs) > 0 {
		if rc := cs[0].GetSpec().GetRebalance(); !rc.GetDisabled() {
			return rc.GetPlugin()
		}
	}
	return ""
}

// validateServiceRebalance checks a service's rebalance config.
func validateServiceRebalance(sp *shoalv1.ServiceSpec) error {
	if sp.GetGlobal() != nil && sp.GetRebalance().GetPlugin() != "" {
		return invalidArg("spec.rebalance: a global service runs one task per node and has nothing to rebalance; leave spec.rebalance unset")
	}
	return validateRebalance("spec.rebalance", sp.GetRebalance())
}

// rebalancerInUse refuses removing a rebalancer plugin the cluster or a
// service names.
func rebalancerInUse(tx store.ReadTx, name string, svcs []*shoalv1.Service) error {
	if clusterRebalancer(tx) == name {
		return precondition("plugin %q is the cluster's rebalancer: clear or change the cluster's spec.rebalance first", name)
	}
	var users []string
	for _, svc := range svcs {
		if svc.GetSpec().GetRebalance().GetPlugin() == name {
			users = append(users, svc.GetSpec().GetName())
		}
	}
	if len(users) > 0 {
		slices.Sort(users)
		return precondition("plugin %q is the rebalancer of services %s: clear or change their spec.rebalance first", name, strings.Join(users, ", "))
	}
	return nil
}
