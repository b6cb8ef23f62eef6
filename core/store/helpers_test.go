package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func fixedClock() func() time.Time {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var n int64
	return func() time.Time { n++; return t0.Add(time.Duration(n) * time.Millisecond) }
}

func newTestStore(t testing.TB, opts ...Option) *Store {
	t.Helper()
	s := NewLocal(append([]Option{WithClock(fixedClock()), WithMutationCheck(true)}, opts...)...)
	t.Cleanup(func() { verifyUnchanged(t, s); s.Close() })
	return s
}

// verifyUnchanged fails the test when a stored object was changed in place.
func verifyUnchanged(t interface{}, s *Store) {
	if err := s.VerifyUnchanged(); err != nil {
		if tb, ok := t.(interface{ Errorf(string, ...any) }); ok {
			tb.Errorf("%v", err)
		}
	}
}

func task(id, service string, slot uint64, node string) *shoalv1.Task {
	return &shoalv1.Task{
		Id: id, ServiceId: service, Slot: slot, NodeId: node,
		DesiredState: shoalv1.TaskState_TASK_STATE_RUNNING,
		Status:       &shoalv1.TaskStatus{State: shoalv1.TaskState_TASK_STATE_NEW},
	}
}

func node(id, host string, role shoalv1.NodeRole, avail shoalv1.NodeAvailability) *shoalv1.Node {
	return &shoalv1.Node{
		Id: id, Role: role,
		Spec:        &shoalv1.NodeSpec{Availability: avail},
		Description: &shoalv1.NodeDescription{Hostname: host},
	}
}

func service(id, name string) *shoalv1.Service {
	return &shoalv1.Service{Id: id, Spec: &shoalv1.ServiceSpec{Name: name}}
}

func mustUpdate(t testing.TB, s *Store, fn func(Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func createAll(t testing.TB, s *Store, objs ...Object) {
	t.Helper()
	mustUpdate(t, s, func(tx Tx) error {
		for _, o := range objs {
			if err := tx.Create(o); err != nil {
				return err
			}
		}
		return nil
	})
}

func ids[T Object](objs []T) string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.GetId()
	}
	return strings.Join(out, ",")
}

// --- enum names used by the datadriven files

func taskStateName(s shoalv1.TaskState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "TASK_STATE_"))
}

func parseTaskState(s string) (shoalv1.TaskState, error) {
	v, ok := shoalv1.TaskState_value["TASK_STATE_"+strings.ToUpper(s)]
	if !ok {
		return 0, fmt.Errorf("unknown task state %q", s)
	}
	return shoalv1.TaskState(v), nil
}

func parseRole(s string) (shoalv1.NodeRole, error) {
	v, ok := shoalv1.NodeRole_value["NODE_ROLE_"+strings.ToUpper(s)]
	if !ok {
		return 0, fmt.Errorf("unknown role %q", s)
	}
	return shoalv1.NodeRole(v), nil
}

func parseAvail(s string) (shoalv1.NodeAvailability, error) {
	v, ok := shoalv1.NodeAvailability_value["NODE_AVAILABILITY_"+strings.ToUpper(s)]
	if !ok {
		return 0, fmt.Errorf("unknown availability %q", s)
	}
	return shoalv1.NodeAvailability(v), nil
}

// render prints an object on one line.
func render(o Object) string {
	v := o.GetMeta().GetVersion()
	switch x := o.(type) {
	case *shoalv1.Task:
		return fmt.Sprintf("task %s v%d service=%s slot=%d node=%s desired=%s state=%s",
			x.Id, v, x.ServiceId, x.Slot, x.NodeId, taskStateName(x.DesiredState), taskStateName(x.GetStatus().GetState()))
	case *shoalv1.Node:
		return fmt.Sprintf("node %s v%d host=%s role=%s avail=%s", x.Id, v, x.GetDescription().GetHostname(),
			strings.ToLower(strings.TrimPrefix(x.Role.String(), "NODE_ROLE_")),
			strings.ToLower(strings.TrimPrefix(x.GetSpec().GetAvailability().String(), "NODE_AVAILABILITY_")))
	case *shoalv1.Service:
		return fmt.Sprintf("service %s v%d name=%s", x.Id, v, x.GetSpec().GetName())
	case *shoalv1.Network:
		return fmt.Sprintf("network %s v%d name=%s", x.Id, v, x.GetSpec().GetName())
	case *shoalv1.PluginModule:
		return fmt.Sprintf("plugin %s v%d name=%s", x.Id, v, x.Name)
	case *shoalv1.Cluster:
		return fmt.Sprintf("cluster %s v%d name=%s", x.Id, v, x.GetSpec().GetName())
	}
	return fmt.Sprintf("%T", o)
}

// buildObject makes (or, with base != nil, changes a clone of) an object from key=value args.
func buildObject(kind Kind, base Object, args map[string]string) (Object, error) {
	var o Object
	if base != nil {
		o = cloneObject(base)
	} else {
		o = newEmpty(kind, args["id"], nil)
	}
	for k, v := range args {
		var err error
		switch k {
		case "id":
			continue
		case "version":
			var n uint64
			n, err = strconv.ParseUint(v, 10, 64)
			if o.GetMeta() == nil {
				setMeta(o, &shoalv1.Meta{})
			}
			o.GetMeta().Version = n
		default:
			err = setField(o, k, v)
		}
		if err != nil {
			return nil, fmt.Errorf("%s=%s: %w", k, v, err)
		}
	}
	return o, nil
}

func setField(o Object, k, v string) error {
	var err error
	switch x := o.(type) {
	case *shoalv1.Task:
		switch k {
		case "service":
			x.ServiceId = v
		case "slot":
			x.Slot, err = strconv.ParseUint(v, 10, 64)
		case "node":
			x.NodeId = v
		case "desired":
			x.DesiredState, err = parseTaskState(v)
		case "state":
			if x.Status == nil {
				x.Status = &shoalv1.TaskStatus{}
			}
			x.Status.State, err = parseTaskState(v)
		default:
			return fmt.Errorf("unknown task field")
		}
	case *shoalv1.Node:
		if x.Spec == nil {
			x.Spec = &shoalv1.NodeSpec{}
		}
		if x.Description == nil {
			x.Description = &shoalv1.NodeDescription{}
		}
		switch k {
		case "role":
			x.Role, err = parseRole(v)
		case "avail":
			x.Spec.Availability, err = parseAvail(v)
		case "host":
			x.Description.Hostname = v
		default:
			return fmt.Errorf("unknown node field")
		}
	case *shoalv1.Service:
		if k != "name" {
			return fmt.Errorf("unknown service field")
		}
		if x.Spec == nil {
			x.Spec = &shoalv1.ServiceSpec{}
		}
		x.Spec.Name = v
	case *shoalv1.Network:
		if k != "name" {
			return fmt.Errorf("unknown network field")
		}
		if x.Spec == nil {
			x.Spec = &shoalv1.NetworkSpec{}
		}
		x.Spec.Name = v
	case *shoalv1.PluginModule:
		if k != "name" {
			return fmt.Errorf("unknown plugin field")
		}
		x.Name = v
	case *shoalv1.Cluster:
		if k != "name" {
			return fmt.Errorf("unknown cluster field")
		}
		if x.Spec == nil {
			x.Spec = &shoalv1.ClusterSpec{}
		}
		x.Spec.Name = v
	}
	return err
}
