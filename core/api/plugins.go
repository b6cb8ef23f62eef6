package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/shoal-project/shoal/core/pluginmgr"
	"github.com/shoal-project/shoal/core/scheduler"
	"regexp"
	"slices"
	"strings"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// Plugins is the plugin manager on the leader: it validates modules and
// answers dry runs. Storing modules is the API's job.
type Plugins interface {
	// Validate checks a module for kind and returns its ABI version and capabilities.
	Validate(ctx context.Context, wasm []byte, kind shoalv1.PluginKind) (abi, caps uint32, err error)
	// Builtins lists the plugins compiled into the binary (without their bytes).
	Builtins() []*shoalv1.PluginModule
	// Stats returns this manager's counters for a plugin.
	Stats(name string) *shoalv1.PluginStats
	// DryRun places the tasks of spec (or the pending tasks) with the module.
	DryRun(ctx context.Context, wasm []byte, spec *shoalv1.ServiceSpec) (*shoalv1.TestPluginResponse, error)
	// ShadowReport returns this manager's report of a shadow scheduler.
	ShadowReport(name string) *shoalv1.ShadowReport
}

// MaxPluginBytes bounds a module stored in the cluster.
const MaxPluginBytes = 32 << 20

var pluginNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$`)

func (s *Server) pluginsOrUnavailable() (Plugins, error) {
	if s.plugins == nil {
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("the plugin host is not running on this manager"))
	}
	return s.plugins, nil
}

func (s *Server) builtin(name string) *shoalv1.PluginModule {
	if s.plugins == nil {
		return nil
	}
	for _, b := range s.plugins.Builtins() {
		if b.GetName() == name {
			return b
		}
	}
	return nil
}

func kindWord(k shoalv1.PluginKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "PLUGIN_KIND_"))
}

func (s *Server) InstallPlugin(ctx context.Context, req *connect.Request[shoalv1.InstallPluginRequest]) (*connect.Response[shoalv1.InstallPluginResponse], error) {
	m := req.Msg
	if !pluginNameRE.MatchString(m.GetName()) {
		return nil, invalidArg("name %q: use 1-64 lowercase letters, digits, '.', '_' or '-'", m.GetName())
	}
	if s.builtin(m.GetName()) != nil {
		return nil, invalidArg("name %q is a built-in plugin; pick another name", m.GetName())
	}
	if m.GetKind() != shoalv1.PluginKind_PLUGIN_KIND_SCHEDULER && m.GetKind() != shoalv1.PluginKind_PLUGIN_KIND_ALLOCATOR &&
		m.GetKind() != shoalv1.PluginKind_PLUGIN_KIND_REBALANCER {
		return nil, invalidArg("kind: use scheduler, allocator or rebalancer")
	}
	if len(m.GetWasm()) == 0 {
		return nil, invalidArg("wasm: the module is empty")
	}
	if len(m.GetWasm()) > MaxPluginBytes {
		return nil, invalidArg("wasm: the module is %d bytes; the limit is %d", len(m.GetWasm()), MaxPluginBytes)
	}
	pl, err := s.pluginsOrUnavailable()
	if err != nil {
		return nil, err
	}
	abi, caps, err := pl.Validate(ctx, m.GetWasm(), m.GetKind())
	if err != nil {
		return nil, installError(m.GetKind(), err)
	}
	sum := sha256.Sum256(m.GetWasm())
	mod := &shoalv1.PluginModule{
		Id: hex.EncodeToString(sum[:]), Name: m.GetName(), Kind: m.GetKind(), Size: uint64(len(m.GetWasm())),
		AbiVersion: abi, Capabilities: caps, Wasm: m.GetWasm(),
	}
	err = s.store.Update(ctx, func(tx store.Tx) error {
		byName, err := tx.FindPlugins(store.ByName(mod.Name))
		if err != nil {
			return err
		}
		if len(byName) > 0 {
			return connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("name: a plugin named %q is installed; remove it first or use another name", mod.Name))
		}
		if same := tx.GetPlugin(mod.Id); same != nil {
			return connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("wasm: this module is installed already as %q", same.GetName()))
		}
		return tx.Create(mod)
	})
	if err != nil {
		return nil, storeErr(err)
	}
	out := stripModule(mod)
	return connect.NewResponse(&shoalv1.InstallPluginResponse{Plugin: out}), nil
}

func stripModule(p *shoalv1.PluginModule) *shoalv1.PluginModule {
	c := &shoalv1.PluginModule{}
	*c = shoalv1.PluginModule{Id: p.Id, Meta: p.Meta, Name: p.Name, Kind: p.Kind, Size: p.Size, AbiVersion: p.AbiVersion, Capabilities: p.Capabilities, Builtin: p.Builtin}
	return c
}

// active returns the cluster's active scheduler and allocator names.
func active(tx store.ReadTx) (sched, alloc string) {
	sched, alloc = scheduler.PolicySpread, pluginmgr.DefaultAllocator
	if cs, _ := tx.FindClusters(store.All()); len(cs) > 0 {
		if n := cs[0].GetSpec().GetDefaultScheduler(); n != "" {
			sched = n
		}
		if n := cs[0].GetSpec().GetDefaultAllocator(); n != "" {
			alloc = n
		}
	}
	return sched, alloc
}

func (s *Server) ListPlugins(ctx context.Context, _ *connect.Request[shoalv1.ListPluginsRequest]) (*connect.Response[shoalv1.ListPluginsResponse], error) {
	pl, err := s.pluginsOrUnavailable()
	if err != nil {
		return nil, err
	}
	res := &shoalv1.ListPluginsResponse{}
	var sched, alloc, rebal string
	err = s.read(ctx, func(tx store.ReadTx) error {
		sched, alloc = active(tx)
		rebal = clusterRebalancer(tx)
		return tx.Range(store.KindPlugin, store.All(), func(o store.Object) bool {
			res.Plugins = append(res.Plugins, stripModule(o.(*shoalv1.PluginModule)))
			return true
		})
	})
	if err != nil {
		return nil, storeErr(err)
	}
	var builtins []*shoalv1.PluginModule
	for _, b := range pl.Builtins() {
		builtins = append(builtins, stripModule(b))
	}
	res.Plugins = append(builtins, res.Plugins...)
	for _, p := range res.Plugins {
		st := pl.Stats(p.GetName())
		st.Active = p.GetName() == sched || p.GetName() == alloc || p.GetName() == rebal
		res.Stats = append(res.Stats, st)
	}
	return connect.NewResponse(res), nil
}

func (s *Server) findPlugin(ctx context.Context, name string, withModule bool) (*shoalv1.PluginModule, error) {
	if b := s.builtin(name); b != nil {
		if !withModule {
			b = stripModule(b)
		}
		return b, nil
	}
	var p *shoalv1.PluginModule
	err := s.read(ctx, func(tx store.ReadTx) error {
		ps, err := tx.FindPlugins(store.ByName(name))
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			return objectNotFound(KindPlugin, name)
		}
		p = ps[0]
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	if !withModule {
		p = stripModule(p)
	}
	return p, nil
}

func (s *Server) GetPlugin(ctx context.Context, req *connect.Request[shoalv1.GetPluginRequest]) (*connect.Response[shoalv1.GetPluginResponse], error) {
	pl, err := s.pluginsOrUnavailable()
	if err != nil {
		return nil, err
	}
	p, err := s.findPlugin(ctx, req.Msg.GetName(), req.Msg.GetIncludeModule())
	if err != nil {
		return nil, err
	}
	st := pl.Stats(p.GetName())
	_ = s.store.View(func(tx store.ReadTx) error {
		sched, alloc := active(tx)
		st.Active = p.GetName() == sched || p.GetName() == alloc
		return nil
	})
	return connect.NewResponse(&shoalv1.GetPluginResponse{Plugin: p, Stats: st}), nil
}

func (s *Server) RemovePlugin(ctx context.Context, req *connect.Request[shoalv1.RemovePluginRequest]) (*connect.Response[shoalv1.RemovePluginResponse], error) {
	name := req.Msg.GetName()
	if s.builtin(name) != nil {
		return nil, precondition("plugin %q is built in and cannot be removed", name)
	}
	err := s.store.Update(ctx, func(tx store.Tx) error {
		ps, err := tx.FindPlugins(store.ByName(name))
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			return objectNotFound(KindPlugin, name)
		}
		sched, alloc := active(tx)
		if name == sched || name == alloc {
			return precondition("plugin %q is the cluster's active %s: activate another first (the built-in ones are spread, binpack and ipam)", name, kindWord(ps[0].GetKind()))
		}
		svcs, err := tx.FindServices(store.All())
		if err != nil {
			return err
		}
		var users []string
		for _, svc := range svcs {
			if svc.GetSpec().GetScheduler() == name {
				users = append(users, svc.GetSpec().GetName())
			}
		}
		if len(users) > 0 {
			slices.Sort(users)
			return precondition("plugin %q is used by services %s: change their spec.scheduler first", name, strings.Join(users, ", "))
		}
		if err := rebalancerInUse(tx, name, svcs); err != nil {
			return err
		}
		return tx.Delete(store.KindPlugin, ps[0].GetId())
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return connect.NewResponse(&shoalv1.RemovePluginResponse{}), nil
}

func (s *Server) ActivatePlugin(ctx context.Context, req *connect.Request[shoalv1.ActivatePluginRequest]) (*connect.Response[shoalv1.ActivatePluginResponse], error) {
	name := req.Msg.GetName()
	out, err := s.setClusterSpec(ctx, func(tx store.Tx, sp *shoalv1.ClusterSpec) error {
		kind, err := s.pluginKindIn(tx, name)
		if err != nil {
			return err
		}
		switch kind {
		case shoalv1.PluginKind_PLUGIN_KIND_ALLOCATOR:
			sp.DefaultAllocator = name
		case shoalv1.PluginKind_PLUGIN_KIND_REBALANCER:
			activateRebalancer(sp, name) // rebalance.go
		default:
			sp.DefaultScheduler = name
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&shoalv1.ActivatePluginResponse{Cluster: out}), nil
}

// setClusterSpec lets set check and change the cluster's spec in one
// update, and returns the cluster (redacted) or the API error.
func (s *Server) setClusterSpec(ctx context.Context, set func(tx store.Tx, sp *shoalv1.ClusterSpec) error) (*shoalv1.Cluster, error) {
	var out *shoalv1.Cluster
	err := s.store.Update(ctx, func(tx store.Tx) error {
		c, err := clusterObj(tx)
		if err != nil {
			return err
		}
		if c.Spec == nil {
			c.Spec = &shoalv1.ClusterSpec{}
		}
		if err := set(tx, c.Spec); err != nil {
			return err
		}
		out = c
		return tx.Update(c)
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return redactCluster(out), nil
}

func (s *Server) TestPlugin(ctx context.Context, req *connect.Request[shoalv1.TestPluginRequest]) (*connect.Response[shoalv1.TestPluginResponse], error) {
	pl, err := s.pluginsOrUnavailable()
	if err != nil {
		return nil, err
	}
	wasm := req.Msg.GetWasm()
	if len(wasm) == 0 {
		if req.Msg.GetName() == "" {
			return nil, invalidArg("give a plugin name or a module")
		}
		p, err := s.findPlugin(ctx, req.Msg.GetName(), true)
		if err != nil {
			return nil, err
		}
		wasm = p.GetWasm()
		if svc := req.Msg.GetRebalanceService(); svc != "" {
			if p.GetKind() != shoalv1.PluginKind_PLUGIN_KIND_REBALANCER {
				return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("name: %q is a %s plugin, not a rebalancer", p.GetName(), kindWord(p.GetKind())))
			}
			res, err := s.testRebalance(ctx, pl, wasm, svc)
			if err != nil {
				return nil, err
			}
			return connect.NewResponse(res), nil
		}
	} else if svc := req.Msg.GetRebalanceService(); svc != "" {
		if _, _, err := pl.Validate(ctx, wasm, shoalv1.PluginKind_PLUGIN_KIND_REBALANCER); err != nil {
			return nil, installError(shoalv1.PluginKind_PLUGIN_KIND_REBALANCER, err)
		}
		res, err := s.testRebalance(ctx, pl, wasm, svc)
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(res), nil
	} else if _, _, err := pl.Validate(ctx, wasm, shoalv1.PluginKind_PLUGIN_KIND_SCHEDULER); err != nil {
		return nil, invalidArg("wasm: %v", err)
	}
	if sp := req.Msg.GetSpec(); sp != nil {
		if sp.GetName() == "" {
			sp.Name = "dry-run"
		}
		if err := validateServiceSpec(sp); err != nil {
			return nil, err
		}
	}
	if err := s.cluster.ReadBarrier(ctx); err != nil {
		return nil, storeErr(err)
	}
	res, err := pl.DryRun(ctx, wasm, req.Msg.GetSpec())
	if err != nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("dry run: %w", err))
	}
	return connect.NewResponse(res), nil
}

// pluginKindIn finds the kind of a built-in or installed plugin.
func (s *Server) pluginKindIn(tx store.ReadTx, name string) (shoalv1.PluginKind, error) {
	if b := s.builtin(name); b != nil {
		return b.GetKind(), nil
	}
	ps, err := tx.FindPlugins(store.ByName(name))
	if err != nil {
		return 0, err
	}
	if len(ps) == 0 {
		return 0, objectNotFound(KindPlugin, name)
	}
	return ps[0].GetKind(), nil
}
