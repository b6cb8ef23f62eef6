package api

import (
	"context"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// ShadowPlugin sets the cluster's shadow scheduler (spec.shadow_scheduler,
// replicated, so it survives leader changes) or clears it.
func (s *Server) ShadowPlugin(ctx context.Context, req *connect.Request[shoalv1.ShadowPluginRequest]) (*connect.Response[shoalv1.ShadowPluginResponse], error) {
	name, svc := req.Msg.GetName(), req.Msg.GetForService()
	if req.Msg.GetOff() {
		name, svc = "", ""
	} else if name == "" {
		return nil, invalidArg("name: give the scheduler plugin to shadow (or off to stop)")
	}
	out, err := s.setClusterSpec(ctx, func(tx store.Tx, sp *shoalv1.ClusterSpec) error {
		if name != "" {
			kind, err := s.pluginKindIn(tx, name)
			if err != nil {
				return err
			}
			if kind != shoalv1.PluginKind_PLUGIN_KIND_SCHEDULER {
				return precondition("plugin %q is a %s plugin: only a scheduler plugin can shadow", name, kindWord(kind))
			}
		}
		if svc != "" {
			svcs, err := tx.FindServices(store.ByName(svc))
			if err != nil {
				return err
			}
			if len(svcs) == 0 {
				return objectNotFound(KindService, svc)
			}
		}
		sp.ShadowScheduler, sp.ShadowService = name, svc
		return nil
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&shoalv1.ShadowPluginResponse{Cluster: out}), nil
}

// ShadowReport returns this manager's report of a shadow scheduler: the
// leader's memory, since the leader runs the passes.
func (s *Server) ShadowReport(ctx context.Context, req *connect.Request[shoalv1.ShadowReportRequest]) (*connect.Response[shoalv1.ShadowReportResponse], error) {
	pl, err := s.pluginsOrUnavailable()
	if err != nil {
		return nil, err
	}
	if req.Msg.GetName() == "" {
		return nil, invalidArg("name: give the shadow scheduler plugin's name")
	}
	return connect.NewResponse(&shoalv1.ShadowReportResponse{Report: pl.ShadowReport(req.Msg.GetName())}), nil
}
