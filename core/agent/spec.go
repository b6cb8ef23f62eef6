package agent

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/taskspec"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/runtime"
)

// DefaultStopGrace is the stop grace period when a task spec names none.
const DefaultStopGrace = 10 * time.Second

// Labels set on every task's runtime spec.
const (
	LabelTaskID      = "shoal.task.id"
	LabelServiceID   = "shoal.service.id"
	LabelServiceName = "shoal.service.name"
	LabelNodeID      = "shoal.node.id"
	LabelSlot        = "shoal.task.slot"
)

func cloneDesc(d *shoalv1.NodeDescription) *shoalv1.NodeDescription {
	return proto.CloneOf(d)
}

// SpecFromTask maps a task's protobuf spec to the runtime's TaskSpec. It
// fails with runtime.ErrInvalidSpec when the task has no ID or no runtime.
func SpecFromTask(t *shoalv1.Task) (*runtime.TaskSpec, error) {
	if t == nil || t.GetId() == "" {
		return nil, fmt.Errorf("task without id: %w", runtime.ErrInvalidSpec)
	}
	s := &runtime.TaskSpec{
		TaskID:      t.GetId(),
		ServiceID:   t.GetServiceId(),
		ServiceName: t.GetServiceName(),
		NodeID:      t.GetNodeId(),
		Slot:        t.GetSlot(),
		StopGrace:   DefaultStopGrace,
		Labels: map[string]string{
			LabelTaskID:      t.GetId(),
			LabelServiceID:   t.GetServiceId(),
			LabelServiceName: t.GetServiceName(),
			LabelNodeID:      t.GetNodeId(),
			LabelSlot:        fmt.Sprint(t.GetSlot()),
		},
	}
	for _, a := range t.GetNetworks() {
		if len(a.GetAddresses()) == 0 {
			continue
		}
		addr, err := netip.ParsePrefix(a.GetAddresses()[0])
		if err != nil {
			return nil, fmt.Errorf("task %s: address %q on network %s: %w: %w", t.GetId(), a.GetAddresses()[0], a.GetNetworkId(), err, runtime.ErrInvalidSpec)
		}
		s.Networks = append(s.Networks, runtime.NetworkAttachment{NetworkID: a.GetNetworkId(), Addr: addr})
	}
	for _, p := range t.GetEndpoint().GetPorts() {
		if taskspec.Mode(p) == taskspec.ModeHost && p.GetPublishedPort() != 0 {
			s.HostPorts = append(s.HostPorts, runtime.HostPort{Protocol: taskspec.Protocol(p),
				Published: uint16(p.GetPublishedPort()), Target: uint16(p.GetTargetPort())})
		}
	}
	spec := t.GetSpec()
	s.Kind = taskspec.Kind(spec)
	switch s.Kind {
	case runtime.KindContainer:
		c := spec.GetContainer()
		s.Image = c.GetImage()
		s.Command = slices.Clone(c.GetCommand())
		s.Args = slices.Clone(c.GetArgs())
		s.Env = slices.Clone(c.GetEnv())
		s.Dir = c.GetDir()
		s.User = c.GetUser()
		s.Hostname = c.GetHostname()
		s.ReadOnlyRootfs = c.GetReadOnly()
		s.NetworkMode = c.GetNetworkMode()
		s.StopSignal = c.GetStopSignal()
		if g := c.GetStopGracePeriod(); g != nil {
			s.StopGrace = g.AsDuration()
		}
		for _, m := range c.GetMounts() {
			s.Mounts = append(s.Mounts, runtime.Mount{Type: m.GetType(), Source: m.GetSource(), Target: m.GetTarget(), ReadOnly: m.GetReadOnly(), SizeBytes: m.GetSizeBytes()})
		}
		if hc := c.GetHealthcheck(); hc != nil && len(hc.GetTest()) > 0 {
			s.Healthcheck = &runtime.Healthcheck{
				Test:        slices.Clone(hc.GetTest()),
				Interval:    hc.GetInterval().AsDuration(),
				Timeout:     hc.GetTimeout().AsDuration(),
				StartPeriod: hc.GetStartPeriod().AsDuration(),
				Retries:     int(hc.GetRetries()),
			}
		}
		s.Resources.PidsLimit = c.GetPidsLimit()
		for k, v := range c.GetLabels() {
			if _, reserved := s.Labels[k]; !reserved {
				s.Labels[k] = v
			}
		}
	case runtime.KindProcess:
		p := spec.GetProcess()
		s.Command = slices.Clone(p.GetCommand())
		s.Env = slices.Clone(p.GetEnv())
		s.Dir = p.GetDir()
		s.StopSignal = p.GetStopSignal()
		if g := p.GetStopGracePeriod(); g != nil {
			s.StopGrace = g.AsDuration()
		}
	default:
		return nil, fmt.Errorf("task %s has neither a container nor a process spec: %w", t.GetId(), runtime.ErrInvalidSpec)
	}
	if s.StopGrace < 0 {
		return nil, fmt.Errorf("task %s: negative stop grace period: %w", t.GetId(), runtime.ErrInvalidSpec)
	}
	res := spec.GetResources()
	s.Resources.NanoCPUs = res.GetLimits().GetNanoCpus()
	s.Resources.MemoryBytes = res.GetLimits().GetMemoryBytes()
	if r := res.GetReservations().GetNanoCpus(); r > 0 {
		// Like docker: a reserved CPU is worth 1024 shares.
		s.Resources.CPUShares = max(2, r*1024/1e9)
	}
	s.Labels = maps.Clone(s.Labels)
	return s, nil
}
