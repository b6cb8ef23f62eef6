package api

import (
	"context"
	"errors"
	"fmt"
	"github.com/shoal-project/shoal/core/scheduler"
	"slices"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/ids"
)

func resolveService(tx store.ReadTx, ref string) (*shoalv1.Service, error) {
	return resolveByName(tx, store.KindService, KindService, ref, tx.FindServices, tx.GetService)
}

// resolveByName finds the object of a kind named ref, else the one whose ID
// or unambiguous ID prefix ref is. It returns a copy the caller may change
// (the store's reads are shared; API calls are few, the copy is cheap).
func resolveByName[T proto.Message](tx store.ReadTx, kind store.Kind, what, ref string, find func(store.By) ([]T, error), get func(string) T) (T, error) {
	var zero T
	if ref == "" {
		return zero, invalidArg("%s: give a %s name or ID", what, what)
	}
	byName, err := find(store.ByName(ref))
	if err != nil {
		return zero, err
	}
	if len(byName) == 1 {
		return proto.CloneOf(byName[0]), nil
	}
	id, err := tx.Resolve(kind, ref)
	if errors.Is(err, store.ErrAmbiguousPrefix) {
		return zero, invalidArg("%s %q: the ID prefix matches several %ss; give more characters", what, ref, what)
	}
	if err != nil {
		return zero, objectNotFound(what, ref)
	}
	return proto.CloneOf(get(id)), nil
}

func (s *Server) CreateService(ctx context.Context, req *connect.Request[shoalv1.CreateServiceRequest]) (*connect.Response[shoalv1.CreateServiceResponse], error) {
	sp := req.Msg.GetSpec()
	if err := validateServiceSpec(sp); err != nil {
		return nil, err
	}
	// The allocator fills svc.Endpoint (ports with their dynamic numbers,
	// VIPs): until then nothing is served.
	svc := &shoalv1.Service{Id: ids.New(), Spec: proto.CloneOf(sp), SpecVersion: 1}
	err := s.store.Update(ctx, func(tx store.Tx) error {
		if sch := sp.GetScheduler(); sch != "" && !isNativePolicy(sch) {
			ps, err := tx.FindPlugins(store.ByName(sch))
			if err != nil {
				return err
			}
			if len(ps) == 0 {
				return notFoundDetail(KindPlugin, sch, fmt.Sprintf("spec.scheduler %q: no such plugin (the built-in schedulers are spread and binpack)", sch))
			}
		}
		if err := s.checkRebalancePlugin(tx, "spec.rebalance", sp.GetRebalance()); err != nil {
			return err
		}
		if err := resolveServiceNetworks(tx, svc.Spec); err != nil {
			return err
		}
		if err := resolveServiceFiles(tx, svc.Spec); err != nil {
			return err
		}
		if err := attachIngress(tx, svc.Spec); err != nil {
			return err
		}
		if err := checkPortConflicts(tx, svc.Spec, svc.Id); err != nil {
			return err
		}
		existing, err := tx.FindServices(store.ByName(sp.GetName()))
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			return connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("spec.name: a service named %q exists; pick another name or update it", sp.GetName()))
		}
		return tx.Create(svc)
	})
	if err != nil {
		return nil, storeErr(err)
	}
	var out *shoalv1.Service
	_ = s.store.View(func(tx store.ReadTx) error { out = tx.GetService(svc.Id); return nil })
	if out == nil {
		out = svc
	}
	return connect.NewResponse(&shoalv1.CreateServiceResponse{Service: out}), nil
}

// isNativePolicy says whether name is a policy the scheduler always has.
func isNativePolicy(name string) bool {
	_, ok := scheduler.Native(name)
	return ok
}

func serviceStatus(tx store.ReadTx, svc *shoalv1.Service) *shoalv1.ServiceStatus {
	st := &shoalv1.ServiceStatus{}
	_ = tx.Range(store.KindTask, store.ByService(svc.GetId()), func(o store.Object) bool {
		t := o.(*shoalv1.Task)
		if t.GetDesiredState() == shoalv1.TaskState_TASK_STATE_RUNNING {
			if svc.GetSpec().GetGlobal() != nil {
				st.DesiredTasks++
			}
			if t.GetStatus().GetState() == shoalv1.TaskState_TASK_STATE_RUNNING {
				st.RunningTasks++
			}
		}
		return true
	})
	if r := svc.GetSpec().GetReplicated(); r != nil {
		st.DesiredTasks = r.GetReplicas()
	}
	return st
}

func (s *Server) GetService(ctx context.Context, req *connect.Request[shoalv1.GetServiceRequest]) (*connect.Response[shoalv1.GetServiceResponse], error) {
	res := &shoalv1.GetServiceResponse{}
	err := s.read(ctx, func(tx store.ReadTx) error {
		svc, err := resolveService(tx, req.Msg.GetService())
		if err != nil {
			return err
		}
		res.Service, res.Status = svc, serviceStatus(tx, svc)
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return connect.NewResponse(res), nil
}

func (s *Server) ListServices(ctx context.Context, _ *connect.Request[shoalv1.ListServicesRequest]) (*connect.Response[shoalv1.ListServicesResponse], error) {
	res := &shoalv1.ListServicesResponse{}
	err := s.read(ctx, func(tx store.ReadTx) error {
		svcs, err := tx.FindServices(store.All())
		if err != nil {
			return err
		}
		for _, svc := range svcs {
			res.Services = append(res.Services, svc)
			res.Statuses = append(res.Statuses, serviceStatus(tx, svc))
		}
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return connect.NewResponse(res), nil
}

func (s *Server) UpdateService(ctx context.Context, req *connect.Request[shoalv1.UpdateServiceRequest]) (*connect.Response[shoalv1.UpdateServiceResponse], error) {
	sp := req.Msg.GetSpec()
	rollback := req.Msg.GetRollback()
	if rollback && sp != nil {
		return nil, invalidArg("rollback: give either rollback or a spec, not both")
	}
	if !rollback {
		if err := validateServiceSpec(sp); err != nil {
			return nil, err
		}
		sp = proto.CloneOf(sp)
	}
	var out *shoalv1.Service
	err := s.store.Update(ctx, func(tx store.Tx) error {
		svc, err := resolveService(tx, req.Msg.GetService())
		if err != nil {
			return err
		}
		if rollback {
			if sp, err = rollbackSpec(svc); err != nil {
				return err
			}
		}
		if err := s.checkRebalancePlugin(tx, "spec.rebalance", sp.GetRebalance()); err != nil {
			return err
		}
		if err := resolveServiceNetworks(tx, sp); err != nil {
			return err
		}
		if err := resolveServiceFiles(tx, sp); err != nil {
			return err
		}
		if err := attachIngress(tx, sp); err != nil {
			return err
		}
		if err := checkPortConflicts(tx, sp, svc.GetId()); err != nil {
			return err
		}
		if v := req.Msg.GetVersion(); v != 0 && v != svc.GetMeta().GetVersion() {
			return connect.NewError(connect.CodeAborted, fmt.Errorf("version %d is stale (service is at %d): inspect the service again and retry", v, svc.GetMeta().GetVersion()))
		}
		if sp.GetName() != svc.GetSpec().GetName() {
			return invalidArg("spec.name: a service cannot be renamed (%q -> %q)", svc.GetSpec().GetName(), sp.GetName())
		}
		if (sp.GetGlobal() == nil) != (svc.GetSpec().GetGlobal() == nil) {
			return invalidArg("spec.mode: a service cannot change between replicated and global")
		}
		if proto.Equal(sp, svc.GetSpec()) && !rollback {
			out = svc
			return nil
		}
		// Only a change of the task template or the networks makes new
		// tasks; scaling does not. A rollback always starts a roll (its
		// status says so), which replaces only the tasks that differ.
		if rollback || !proto.Equal(sp.GetTask(), svc.GetSpec().GetTask()) || !slices.Equal(sp.GetNetworks(), svc.GetSpec().GetNetworks()) ||
			hostPortsChanged(sp, svc.GetSpec()) {
			svc.SpecVersion++
			startRoll(svc, rollback, s.now())
		}
		svc.PreviousSpec = svc.Spec
		svc.Spec = proto.CloneOf(sp)
		out = svc
		return tx.Update(svc)
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return connect.NewResponse(&shoalv1.UpdateServiceResponse{Service: out}), nil
}

func (s *Server) RemoveService(ctx context.Context, req *connect.Request[shoalv1.RemoveServiceRequest]) (*connect.Response[shoalv1.RemoveServiceResponse], error) {
	err := s.store.Update(ctx, func(tx store.Tx) error {
		svc, err := resolveService(tx, req.Msg.GetService())
		if err != nil {
			return err
		}
		return tx.Delete(store.KindService, svc.GetId())
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return connect.NewResponse(&shoalv1.RemoveServiceResponse{}), nil
}

func (s *Server) ListTasks(ctx context.Context, req *connect.Request[shoalv1.ListTasksRequest]) (*connect.Response[shoalv1.ListTasksResponse], error) {
	res := &shoalv1.ListTasksResponse{}
	err := s.read(ctx, func(tx store.ReadTx) error {
		by := store.All()
		var nodeID string
		if ref := req.Msg.GetService(); ref != "" {
			svc, err := resolveService(tx, ref)
			if err != nil {
				return err
			}
			by = store.ByService(svc.GetId())
		}
		if ref := req.Msg.GetNode(); ref != "" {
			n, err := resolveNode(tx, ref)
			if err != nil {
				return err
			}
			nodeID = n.GetId()
		}
		tasks, err := tx.FindTasks(by)
		if err != nil {
			return err
		}
		for _, t := range tasks {
			if nodeID != "" && t.GetNodeId() != nodeID {
				continue
			}
			if ds := req.Msg.GetDesiredState(); ds != 0 && t.GetDesiredState() != ds {
				continue
			}
			res.Tasks = append(res.Tasks, t)
		}
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return connect.NewResponse(res), nil
}

func (s *Server) GetTask(ctx context.Context, req *connect.Request[shoalv1.GetTaskRequest]) (*connect.Response[shoalv1.GetTaskResponse], error) {
	var t *shoalv1.Task
	err := s.read(ctx, func(tx store.ReadTx) error {
		id, err := tx.Resolve(store.KindTask, req.Msg.GetTask())
		if err != nil {
			return objectNotFound(KindTask, req.Msg.GetTask())
		}
		t = tx.GetTask(id)
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return connect.NewResponse(&shoalv1.GetTaskResponse{Task: t}), nil
}

func (s *Server) ServiceLogs(ctx context.Context, req *connect.Request[shoalv1.ServiceLogsRequest], stream *connect.ServerStream[shoalv1.ServiceLogsResponse]) error {
	if s.logs == nil {
		return connect.NewError(connect.CodeUnavailable, errors.New("logs are served by the leader's dispatcher, which is not running"))
	}
	nodeTasks := map[string][]string{}
	err := s.read(ctx, func(tx store.ReadTx) error {
		svc, err := resolveService(tx, req.Msg.GetService())
		if err != nil {
			return err
		}
		tasks, err := tx.FindTasks(store.ByService(svc.GetId()))
		if err != nil {
			return err
		}
		for _, t := range tasks {
			if t.GetNodeId() != "" && t.GetStatus().GetState() >= shoalv1.TaskState_TASK_STATE_STARTING {
				nodeTasks[t.GetNodeId()] = append(nodeTasks[t.GetNodeId()], t.GetId())
			}
		}
		return nil
	})
	if err != nil {
		return storeErr(err)
	}
	if len(nodeTasks) == 0 {
		return nil
	}
	// 0 (unset) means all lines, as in docker; any other negative value
	// asks for none (new lines only, with follow).
	tail := req.Msg.GetTail()
	switch {
	case tail == 0:
		tail = -1
	case tail < -1:
		tail = 0
	}
	lines, err := s.logs.SubscribeLogs(ctx, nodeTasks, req.Msg.GetFollow(), tail)
	if err != nil {
		return storeErr(err)
	}
	for l := range lines {
		if err := stream.Send(&shoalv1.ServiceLogsResponse{Lines: []*shoalv1.LogLine{l}}); err != nil {
			return err
		}
	}
	return nil
}
