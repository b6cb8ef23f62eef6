package api

import (
	"errors"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func goodSpec() *shoalv1.ServiceSpec {
	return &shoalv1.ServiceSpec{
		Name: "web",
		Mode: &shoalv1.ServiceSpec_Replicated{Replicated: &shoalv1.ReplicatedMode{Replicas: 3}},
		Task: &shoalv1.TaskSpec{Runtime: &shoalv1.TaskSpec_Process{Process: &shoalv1.ProcessSpec{Command: []string{"sleep", "1"}}}},
	}
}

func containerSpec(image string) *shoalv1.ServiceSpec {
	sp := goodSpec()
	sp.Task.Runtime = &shoalv1.TaskSpec_Container{Container: &shoalv1.ContainerSpec{Image: image}}
	return sp
}

func TestValidateServiceSpec(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*shoalv1.ServiceSpec) *shoalv1.ServiceSpec
		field string // expected in the message; "" means valid
	}{
		{"valid process", func(s *shoalv1.ServiceSpec) *shoalv1.ServiceSpec { return s }, ""},
		{"valid image", func(*shoalv1.ServiceSpec) *shoalv1.ServiceSpec { return containerSpec("127.0.0.1:5000/busybox:latest") }, ""},
		{"nil spec", func(*shoalv1.ServiceSpec) *shoalv1.ServiceSpec { return nil }, "spec"},
		{"bad name", func(s *shoalv1.ServiceSpec) *shoalv1.ServiceSpec { s.Name = "-x"; return s }, "spec.name"},
		{"no mode", func(s *shoalv1.ServiceSpec) *shoalv1.ServiceSpec { s.Mode = nil; return s }, "spec.mode"},
		{"empty command", func(s *shoalv1.ServiceSpec) *shoalv1.ServiceSpec { s.Task.GetProcess().Command = nil; return s }, "spec.task.process.command"},
		{"no runtime", func(s *shoalv1.ServiceSpec) *shoalv1.ServiceSpec { s.Task.Runtime = nil; return s }, "spec.task"},
		{"bad image", func(*shoalv1.ServiceSpec) *shoalv1.ServiceSpec { return containerSpec("UPPER/Case::x") }, "spec.task.container.image"},
		{"no image", func(*shoalv1.ServiceSpec) *shoalv1.ServiceSpec { return containerSpec("") }, "spec.task.container.image"},
		{"bad constraint", func(s *shoalv1.ServiceSpec) *shoalv1.ServiceSpec {
			s.Task.Placement = &shoalv1.Placement{Constraints: []string{"node.labels.zone=a"}}
			return s
		}, "constraint"},
		{"bad role constraint", func(s *shoalv1.ServiceSpec) *shoalv1.ServiceSpec {
			s.Task.Placement = &shoalv1.Placement{Constraints: []string{"node.role==boss"}}
			return s
		}, "node.role"},
		{"tiny memory", func(s *shoalv1.ServiceSpec) *shoalv1.ServiceSpec {
			s.Task.Resources = &shoalv1.ResourceRequirements{Limits: &shoalv1.Resources{MemoryBytes: 1 << 20}}
			return s
		}, "limits.memory_bytes"},
		{"reservation over limit", func(s *shoalv1.ServiceSpec) *shoalv1.ServiceSpec {
			s.Task.Resources = &shoalv1.ResourceRequirements{Limits: &shoalv1.Resources{MemoryBytes: 8 << 20}, Reservations: &shoalv1.Resources{MemoryBytes: 16 << 20}}
			return s
		}, "reservations.memory_bytes"},
		{"limits on a process", func(s *shoalv1.ServiceSpec) *shoalv1.ServiceSpec {
			s.Task.Resources = &shoalv1.ResourceRequirements{Limits: &shoalv1.Resources{MemoryBytes: 64 << 20}}
			return s
		}, "process runtime"},
		{"limits on a container", func(*shoalv1.ServiceSpec) *shoalv1.ServiceSpec {
			s := containerSpec("busybox")
			s.Task.Resources = &shoalv1.ResourceRequirements{Limits: &shoalv1.Resources{MemoryBytes: 64 << 20, NanoCpus: 1e9}}
			return s
		}, ""},
		{"negative cpu", func(s *shoalv1.ServiceSpec) *shoalv1.ServiceSpec {
			s.Task.Resources = &shoalv1.ResourceRequirements{Reservations: &shoalv1.Resources{NanoCpus: -1}}
			return s
		}, "nano_cpus"},
		{"relative bind", func(*shoalv1.ServiceSpec) *shoalv1.ServiceSpec {
			s := containerSpec("busybox")
			s.Task.GetContainer().Mounts = []*shoalv1.Mount{{Type: "bind", Source: "rel", Target: "/x"}}
			return s
		}, "mounts[0].source"},
		{"root target", func(*shoalv1.ServiceSpec) *shoalv1.ServiceSpec {
			s := containerSpec("busybox")
			s.Task.GetContainer().Mounts = []*shoalv1.Mount{{Type: "tmpfs", Target: "/"}}
			return s
		}, "mounts[0].target"},
		{"bad env", func(s *shoalv1.ServiceSpec) *shoalv1.ServiceSpec {
			s.Task.GetProcess().Env = []string{"NOEQUALS"}
			return s
		}, "env"},
		{"global with max replicas", func(s *shoalv1.ServiceSpec) *shoalv1.ServiceSpec {
			s.Mode = &shoalv1.ServiceSpec_Global{Global: &shoalv1.GlobalMode{}}
			s.Task.Placement = &shoalv1.Placement{MaxReplicas: 2}
			return s
		}, "max_replicas"},
		{"bad port", func(s *shoalv1.ServiceSpec) *shoalv1.ServiceSpec {
			s.Endpoint = &shoalv1.EndpointSpec{Ports: []*shoalv1.PortConfig{{TargetPort: 0}}}
			return s
		}, "target_port"},
		{"bad preference", func(s *shoalv1.ServiceSpec) *shoalv1.ServiceSpec {
			s.Task.Placement = &shoalv1.Placement{Preferences: []*shoalv1.PlacementPreference{{SpreadDescriptor: "node.zone"}}}
			return s
		}, "preferences[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateServiceSpec(tt.edit(goodSpec()))
			if tt.field == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument {
				t.Fatalf("want InvalidArgument, got %v", err)
			}
			if !strings.Contains(ce.Message(), tt.field) {
				t.Fatalf("message %q does not name %q", ce.Message(), tt.field)
			}
		})
	}
}

// FuzzValidateServiceSpec: any decodable spec is either accepted or refused
// with InvalidArgument; never a panic.
func FuzzValidateServiceSpec(f *testing.F) {
	for _, s := range []*shoalv1.ServiceSpec{goodSpec(), containerSpec("busybox:1"), {}} {
		b, _ := proto.Marshal(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sp := &shoalv1.ServiceSpec{}
		if proto.Unmarshal(b, sp) != nil {
			return
		}
		err := validateServiceSpec(sp)
		var ce *connect.Error
		if err != nil && (!errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument) {
			t.Fatalf("want nil or InvalidArgument, got %v", err)
		}
	})
}

func TestValidateClusterSpec(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec *shoalv1.ClusterSpec
		want string // "" valid, else part of the error
	}{
		{"defaults", &shoalv1.ClusterSpec{}, ""},
		{"90 day certificates", &shoalv1.ClusterSpec{NodeCertExpiry: durationpb.New(2160 * time.Hour)}, ""},
		{"shortest certificates", &shoalv1.ClusterSpec{NodeCertExpiry: durationpb.New(30 * time.Second)}, ""},
		{"too short certificates", &shoalv1.ClusterSpec{NodeCertExpiry: durationpb.New(10 * time.Second)}, "spec.node_cert_expiry"},
		{"certificates outliving the root", &shoalv1.ClusterSpec{NodeCertExpiry: durationpb.New(20 * 365 * 24 * time.Hour)}, "spec.node_cert_expiry"},
		{"negative certificates", &shoalv1.ClusterSpec{NodeCertExpiry: durationpb.New(-time.Hour)}, "spec.node_cert_expiry"},
		{"heartbeat too fast", &shoalv1.ClusterSpec{HeartbeatPeriod: durationpb.New(time.Millisecond)}, "spec.heartbeat_period"},
		{"no spec", nil, "spec: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validateClusterSpec(tc.spec)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want InvalidArgument naming %q, got %v", tc.want, err)
			}
		})
	}
}
