package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"google.golang.org/protobuf/proto"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func TestServiceUpdateFlags(t *testing.T) {
	container := func(force uint64) *shoalv1.ServiceSpec {
		return &shoalv1.ServiceSpec{Name: "web", Task: &shoalv1.TaskSpec{ForceUpdate: force,
			Runtime: &shoalv1.TaskSpec_Container{Container: &shoalv1.ContainerSpec{Image: "busybox", Env: []string{"A=1"}}}}}
	}
	process := func() *shoalv1.ServiceSpec {
		return &shoalv1.ServiceSpec{Name: "job", Task: &shoalv1.TaskSpec{
			Runtime: &shoalv1.TaskSpec_Process{Process: &shoalv1.ProcessSpec{Command: []string{"sleep", "9"}}}}}
	}
	cases := []struct {
		name    string
		args    []string
		spec    *shoalv1.ServiceSpec
		check   func(*shoalv1.ServiceSpec) bool
		wantErr string
	}{
		{"force raises the counter and nothing else", []string{"--force"}, container(0), func(sp *shoalv1.ServiceSpec) bool {
			want := container(1)
			want.Task.Resources = sp.GetTask().GetResources()
			want.Task.Placement = sp.GetTask().GetPlacement()
			return proto.Equal(sp, want)
		}, ""},
		{"force again", []string{"--force"}, container(4), func(sp *shoalv1.ServiceSpec) bool { return sp.GetTask().GetForceUpdate() == 5 }, ""},
		{"no force keeps the counter", []string{"--env-add", "B=2"}, container(4), func(sp *shoalv1.ServiceSpec) bool { return sp.GetTask().GetForceUpdate() == 4 }, ""},
		{"memory limit of a process", []string{"--limit-memory", "64m"}, process(), nil, "--limit-memory: container-only"},
		{"cpu limit of a process", []string{"--limit-cpu", "1"}, process(), nil, "--limit-cpu: container-only"},
		{"networks added once and removed", []string{"--network-add", "n2", "--network-add", "n1", "--network-rm", "n0"}, func() *shoalv1.ServiceSpec {
			sp := process()
			sp.Networks = []string{"n0", "n1"}
			return sp
		}(), func(sp *shoalv1.ServiceSpec) bool { return strings.Join(sp.GetNetworks(), ",") == "n1,n2" }, ""},
		{"memory reservation of a process", []string{"--reserve-memory", "64m"}, process(), func(sp *shoalv1.ServiceSpec) bool {
			return sp.GetTask().GetResources().GetReservations().GetMemoryBytes() == 64<<20
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var u updateFlags
			fs := pflag.NewFlagSet("update", pflag.ContinueOnError)
			u.register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := u.apply("svc", tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(tc.spec) {
				t.Fatalf("spec after %v: %v (err %v)", tc.args, tc.spec, err)
			}
		})
	}
}
