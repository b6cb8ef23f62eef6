package containerd

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

func TestValidateSpec(t *testing.T) {
	dir := t.TempDir()
	ok := func() runtime.TaskSpec {
		return runtime.TaskSpec{TaskID: "t1", Kind: runtime.KindContainer, Image: "127.0.0.1:5000/busybox:latest"}
	}
	tests := []struct {
		name   string
		mutate func(*runtime.TaskSpec)
		valid  bool
	}{
		{"minimal", func(*runtime.TaskSpec) {}, true},
		{"short image name", func(s *runtime.TaskSpec) { s.Image = "busybox" }, true},
		{"no image", func(s *runtime.TaskSpec) { s.Image = "" }, false},
		{"uppercase repository", func(s *runtime.TaskSpec) { s.Image = "Busybox" }, false},
		{"double colon", func(s *runtime.TaskSpec) { s.Image = "busybox::latest" }, false},
		{"host network", func(s *runtime.TaskSpec) { s.NetworkMode = "host" }, true},
		{"unknown network", func(s *runtime.TaskSpec) { s.NetworkMode = "overlay" }, false},
		{"cluster network", func(s *runtime.TaskSpec) { s.Networks = []runtime.NetworkAttachment{{NetworkID: "n1"}} }, true},
		{"host network with cluster network", func(s *runtime.TaskSpec) {
			s.NetworkMode, s.Networks = "host", []runtime.NetworkAttachment{{NetworkID: "n1"}}
		}, false},
		{"stop signal name", func(s *runtime.TaskSpec) { s.StopSignal = "SIGQUIT" }, true},
		{"stop signal number", func(s *runtime.TaskSpec) { s.StopSignal = "15" }, true},
		{"bad stop signal", func(s *runtime.TaskSpec) { s.StopSignal = "SIGNOPE" }, false},
		{"relative dir", func(s *runtime.TaskSpec) { s.Dir = "tmp" }, false},
		{"env without =", func(s *runtime.TaskSpec) { s.Env = []string{"FOO"} }, false},
		{"env empty value", func(s *runtime.TaskSpec) { s.Env = []string{"FOO="} }, true},
		{"bind ok", func(s *runtime.TaskSpec) { s.Mounts = []runtime.Mount{{Type: "bind", Source: dir, Target: "/d"}} }, true},
		{"bind missing source", func(s *runtime.TaskSpec) {
			s.Mounts = []runtime.Mount{{Type: "bind", Source: dir + "/x", Target: "/d"}}
		}, false},
		{"bind relative source", func(s *runtime.TaskSpec) { s.Mounts = []runtime.Mount{{Type: "bind", Source: "x", Target: "/d"}} }, false},
		{"relative target", func(s *runtime.TaskSpec) { s.Mounts = []runtime.Mount{{Type: "tmpfs", Target: "d"}} }, false},
		{"unknown mount type", func(s *runtime.TaskSpec) { s.Mounts = []runtime.Mount{{Type: "volume", Target: "/d"}} }, false},
		{"memory 4 MiB", func(s *runtime.TaskSpec) { s.Resources.MemoryBytes = 4 << 20 }, true},
		{"memory below 4 MiB", func(s *runtime.TaskSpec) { s.Resources.MemoryBytes = 4<<20 - 1 }, false},
		{"negative pids", func(s *runtime.TaskSpec) { s.Resources.PidsLimit = -1 }, false},
		{"cpu 0.01", func(s *runtime.TaskSpec) { s.Resources.NanoCPUs = 1e7 }, true},
		{"cpu too small", func(s *runtime.TaskSpec) { s.Resources.NanoCPUs = 1e6 }, false},
		{"cpu shares 1", func(s *runtime.TaskSpec) { s.Resources.CPUShares = 1 }, false},
		{"health none", func(s *runtime.TaskSpec) { s.Healthcheck = &runtime.Healthcheck{Test: []string{"NONE"}} }, true},
		{"health cmd-shell", func(s *runtime.TaskSpec) {
			s.Healthcheck = &runtime.Healthcheck{Test: []string{"CMD-SHELL", "true"}, Interval: time.Second}
		}, true},
		{"health bare CMD", func(s *runtime.TaskSpec) { s.Healthcheck = &runtime.Healthcheck{Test: []string{"CMD"}} }, false},
		{"health negative", func(s *runtime.TaskSpec) {
			s.Healthcheck = &runtime.Healthcheck{Test: []string{"true"}, Retries: -1}
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ok()
			tc.mutate(&s)
			err := validateSpec(&s)
			if tc.valid && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if !tc.valid && !errors.Is(err, runtime.ErrInvalidSpec) {
				t.Fatalf("err = %v, want ErrInvalidSpec", err)
			}
		})
	}
}

func TestHealthArgv(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
	}{
		{[]string{"CMD", "wget", "-q", "x"}, []string{"wget", "-q", "x"}},
		{[]string{"CMD-SHELL", "exit 1"}, []string{"/bin/sh", "-c", "exit 1"}},
		{[]string{"true"}, []string{"true"}},
	}
	for _, tc := range tests {
		got, err := healthArgv(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Fatalf("healthArgv(%q) = %q, %v", tc.in, got, err)
		}
	}
	for _, bad := range [][]string{nil, {"CMD"}, {"CMD-SHELL"}, {"CMD-SHELL", "a", "b"}} {
		if _, err := healthArgv(bad); !errors.Is(err, runtime.ErrInvalidSpec) {
			t.Fatalf("healthArgv(%q) err = %v", bad, err)
		}
	}
}

func TestStopDefaults(t *testing.T) {
	s := &runtime.TaskSpec{}
	if stopSignal(s) != "SIGTERM" || stopGrace(s, 0) != 10*time.Second || stopGrace(s, time.Second) != time.Second {
		t.Fatal("defaults")
	}
	s.StopGrace = 3 * time.Second
	if stopGrace(s, 0) != 3*time.Second {
		t.Fatal("spec grace")
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Address: "/x.sock", Namespace: "shoal-node1", StateDir: "/tmp/x"}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	c2 := Config{Address: "/x.sock", Namespace: "shoal-node2", StateDir: "/tmp/x"}
	_ = c2.setDefaults()
	if len(c.BridgeName) > 15 || c.BridgeName == c2.BridgeName || c.Snapshotter != "overlayfs" {
		t.Fatalf("defaults %+v %+v", c, c2)
	}
	for _, bad := range []Config{{Namespace: "n", StateDir: "/x"}, {Address: "/a", StateDir: "/x"}, {Address: "/a", Namespace: "bad ns", StateDir: "/x"}, {Address: "/a", Namespace: "n"}} {
		if err := bad.setDefaults(); err == nil {
			t.Fatalf("%+v accepted", bad)
		}
	}
}
