package agent

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/durationpb"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/runtime"
)

func TestSpecFromTask(t *testing.T) {
	base := func(spec *shoalv1.TaskSpec) *shoalv1.Task {
		return &shoalv1.Task{Id: "t1", ServiceId: "s1", ServiceName: "web", Slot: 3, NodeId: "n1", Spec: spec}
	}
	labels := func(extra map[string]string) map[string]string {
		m := map[string]string{LabelTaskID: "t1", LabelServiceID: "s1", LabelServiceName: "web", LabelNodeID: "n1", LabelSlot: "3"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		task    *shoalv1.Task
		want    *runtime.TaskSpec
		wantErr error
	}{
		{
			name: "process",
			task: base(&shoalv1.TaskSpec{Runtime: &shoalv1.TaskSpec_Process{Process: &shoalv1.ProcessSpec{
				Command: []string{"sleep", "1"}, Env: []string{"A=1"}, Dir: "/tmp", StopSignal: "SIGINT", StopGracePeriod: durationpb.New(3 * time.Second),
			}}}),
			want: &runtime.TaskSpec{TaskID: "t1", ServiceID: "s1", ServiceName: "web", NodeID: "n1", Slot: 3, Kind: runtime.KindProcess,
				Command: []string{"sleep", "1"}, Env: []string{"A=1"}, Dir: "/tmp", StopSignal: "SIGINT", StopGrace: 3 * time.Second, Labels: labels(nil)},
		},
		{
			name: "container",
			task: base(&shoalv1.TaskSpec{
				Runtime: &shoalv1.TaskSpec_Container{Container: &shoalv1.ContainerSpec{
					Image: "busybox:latest", Command: []string{"httpd"}, Args: []string{"-f"}, Env: []string{"B=2"}, Dir: "/www", User: "nobody",
					Hostname: "h", ReadOnly: true, NetworkMode: "host", StopSignal: "SIGQUIT", PidsLimit: 64,
					Mounts:      []*shoalv1.Mount{{Type: "tmpfs", Target: "/tmp", SizeBytes: 1 << 20}, {Type: "bind", Source: "/srv", Target: "/srv", ReadOnly: true}},
					Healthcheck: &shoalv1.HealthConfig{Test: []string{"CMD", "true"}, Interval: durationpb.New(time.Second), Timeout: durationpb.New(2 * time.Second), StartPeriod: durationpb.New(3 * time.Second), Retries: 4},
					Labels:      map[string]string{"team": "a", LabelTaskID: "spoofed"},
				}},
				Resources: &shoalv1.ResourceRequirements{
					Limits:       &shoalv1.Resources{NanoCpus: 2e9, MemoryBytes: 64 << 20},
					Reservations: &shoalv1.Resources{NanoCpus: 5e8},
				},
			}),
			want: &runtime.TaskSpec{TaskID: "t1", ServiceID: "s1", ServiceName: "web", NodeID: "n1", Slot: 3, Kind: runtime.KindContainer,
				Image: "busybox:latest", Command: []string{"httpd"}, Args: []string{"-f"}, Env: []string{"B=2"}, Dir: "/www", User: "nobody",
				Hostname: "h", ReadOnlyRootfs: true, NetworkMode: "host", StopSignal: "SIGQUIT", StopGrace: DefaultStopGrace,
				Mounts:      []runtime.Mount{{Type: "tmpfs", Target: "/tmp", SizeBytes: 1 << 20}, {Type: "bind", Source: "/srv", Target: "/srv", ReadOnly: true}},
				Healthcheck: &runtime.Healthcheck{Test: []string{"CMD", "true"}, Interval: time.Second, Timeout: 2 * time.Second, StartPeriod: 3 * time.Second, Retries: 4},
				Resources:   runtime.Resources{NanoCPUs: 2e9, MemoryBytes: 64 << 20, CPUShares: 512, PidsLimit: 64},
				Labels:      labels(map[string]string{"team": "a"}),
			},
		},
		{
			name: "cluster networks",
			task: func() *shoalv1.Task {
				t := base(&shoalv1.TaskSpec{Runtime: &shoalv1.TaskSpec_Container{Container: &shoalv1.ContainerSpec{Image: "busybox"}}})
				t.Networks = []*shoalv1.Attachment{{NetworkId: "n1", Addresses: []string{"10.0.1.5/24"}}, {NetworkId: "pending"}}
				return t
			}(),
			want: &runtime.TaskSpec{TaskID: "t1", ServiceID: "s1", ServiceName: "web", NodeID: "n1", Slot: 3, Kind: runtime.KindContainer,
				Image: "busybox", StopGrace: DefaultStopGrace, Labels: labels(nil),
				Networks: []runtime.NetworkAttachment{{NetworkID: "n1", Addr: netip.MustParsePrefix("10.0.1.5/24")}}},
		},
		{name: "bad network address", task: func() *shoalv1.Task {
			t := base(&shoalv1.TaskSpec{Runtime: &shoalv1.TaskSpec_Container{Container: &shoalv1.ContainerSpec{Image: "busybox"}}})
			t.Networks = []*shoalv1.Attachment{{NetworkId: "n1", Addresses: []string{"10.0.1.5"}}}
			return t
		}(), wantErr: runtime.ErrInvalidSpec},
		{name: "no runtime", task: base(&shoalv1.TaskSpec{}), wantErr: runtime.ErrInvalidSpec},
		{name: "no spec", task: base(nil), wantErr: runtime.ErrInvalidSpec},
		{name: "no id", task: &shoalv1.Task{}, wantErr: runtime.ErrInvalidSpec},
		{name: "nil", task: nil, wantErr: runtime.ErrInvalidSpec},
		{name: "negative grace", task: base(&shoalv1.TaskSpec{Runtime: &shoalv1.TaskSpec_Process{Process: &shoalv1.ProcessSpec{
			Command: []string{"x"}, StopGracePeriod: durationpb.New(-time.Second)}}}), wantErr: runtime.ErrInvalidSpec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SpecFromTask(tc.task)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
				t.Fatalf("spec (-want +got):\n%s", d)
			}
		})
	}
}
