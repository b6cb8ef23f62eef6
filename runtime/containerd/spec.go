package containerd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/moby/sys/signal"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/runtime"
)

const cfsPeriod = 100_000 // µs

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", runtime.ErrInvalidSpec, fmt.Sprintf(format, args...))
}

// validateSpec checks everything about a TaskSpec that can be checked without
// containerd, so that a bad spec fails before any image is pulled.
func validateSpec(s *runtime.TaskSpec) error {
	if _, err := normalizeRef(s.Image); err != nil {
		return err
	}
	switch s.NetworkMode {
	case "", "bridge", "host":
	default:
		return invalid("network mode %q: want \"bridge\" or \"host\"", s.NetworkMode)
	}
	if s.NetworkMode == "host" && len(s.Networks) > 0 {
		return invalid("network mode host with cluster networks: a host-network task has no namespace to attach; drop --network or the host mode")
	}
	if s.StopSignal != "" {
		if _, err := signal.ParseSignal(s.StopSignal); err != nil {
			return invalid("stop signal %q: %v", s.StopSignal, err)
		}
	}
	if s.Dir != "" && !filepath.IsAbs(s.Dir) {
		return invalid("working directory %q is not absolute", s.Dir)
	}
	for _, e := range s.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return invalid("environment entry %q is not KEY=VALUE", e)
		}
	}
	for _, m := range s.Mounts {
		if err := validateMount(m); err != nil {
			return err
		}
	}
	r := s.Resources
	if r.MemoryBytes < 0 || r.NanoCPUs < 0 || r.CPUShares < 0 || r.PidsLimit < 0 {
		return invalid("negative resource limit %+v", r)
	}
	if r.MemoryBytes > 0 && r.MemoryBytes < minMemoryBytes {
		return invalid("memory limit %d bytes is below the 4 MiB minimum", r.MemoryBytes)
	}
	if r.NanoCPUs > 0 && r.NanoCPUs*cfsPeriod/1e9 < 1000 {
		return invalid("cpu limit %.3f CPUs is below the 0.01 minimum", float64(r.NanoCPUs)/1e9)
	}
	if r.CPUShares > 0 && (r.CPUShares < 2 || r.CPUShares > 262144) {
		return invalid("cpu shares %d outside [2, 262144]", r.CPUShares)
	}
	if h := s.Healthcheck; h != nil && healthEnabled(h) {
		if _, err := healthArgv(h.Test); err != nil {
			return err
		}
		if h.Interval < 0 || h.Timeout < 0 || h.StartPeriod < 0 || h.Retries < 0 {
			return invalid("negative health check setting %+v", *h)
		}
	}
	return nil
}

func validateMount(m runtime.Mount) error {
	if m.Target == "" || !filepath.IsAbs(m.Target) {
		return invalid("mount target %q is not an absolute path", m.Target)
	}
	switch m.Type {
	case "bind", "":
		if m.Source == "" || !filepath.IsAbs(m.Source) {
			return invalid("bind mount source %q is not an absolute path", m.Source)
		}
		if _, err := os.Stat(m.Source); err != nil {
			return invalid("bind mount source %q: %v", m.Source, err)
		}
	case "tmpfs":
		if m.SizeBytes < 0 {
			return invalid("tmpfs %s: negative size", m.Target)
		}
	default:
		return invalid("mount type %q: want \"bind\" or \"tmpfs\"", m.Type)
	}
	return nil
}

func ociMounts(ms []runtime.Mount) []specs.Mount {
	out := make([]specs.Mount, 0, len(ms))
	for _, m := range ms {
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		if m.Type == "tmpfs" {
			opts := []string{"nosuid", "nodev", "mode=1777", mode}
			if m.SizeBytes > 0 {
				opts = append(opts, "size="+strconv.FormatInt(m.SizeBytes, 10))
			}
			out = append(out, specs.Mount{Type: "tmpfs", Source: "tmpfs", Destination: m.Target, Options: opts})
			continue
		}
		out = append(out, specs.Mount{Type: "bind", Source: m.Source, Destination: m.Target, Options: []string{"rbind", "rprivate", mode}})
	}
	return out
}

// withArgs sets the process argv the docker way: Command replaces the image's
// entrypoint (and then drops its cmd), Args replace the image's cmd.
func withArgs(img client.Image, s *runtime.TaskSpec) oci.SpecOpts {
	return func(ctx context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
		ic, err := img.Spec(ctx)
		if err != nil {
			return fmt.Errorf("read image config of %s: %w", s.Image, err)
		}
		entry, cmd := ic.Config.Entrypoint, ic.Config.Cmd
		if len(s.Command) > 0 {
			entry, cmd = s.Command, nil
		}
		if len(s.Args) > 0 {
			cmd = s.Args
		}
		argv := append(append([]string{}, entry...), cmd...)
		if len(argv) == 0 {
			return invalid("image %s has no entrypoint or cmd and the task sets no command", s.Image)
		}
		sp.Process.Args = argv
		return nil
	}
}

// specOpts turns a validated TaskSpec into OCI spec options.
func (b *Backend) specOpts(img client.Image, s *runtime.TaskSpec, netns string) []oci.SpecOpts {
	opts := []oci.SpecOpts{
		oci.WithDefaultSpec(),
		oci.WithImageConfig(img), // env, cwd, user from the image
		withArgs(img, s),
	}
	if len(s.Env) > 0 {
		opts = append(opts, oci.WithEnv(s.Env))
	}
	if s.Dir != "" {
		opts = append(opts, oci.WithProcessCwd(s.Dir))
	}
	if s.User != "" {
		opts = append(opts, invalidOnError("user "+strconv.Quote(s.User), oci.WithUser(s.User)),
			invalidOnError("user "+strconv.Quote(s.User), oci.WithAdditionalGIDs(s.User)))
	}
	if host := taskHostname(s); host != "" {
		opts = append(opts, oci.WithHostname(host))
	}
	if s.ReadOnlyRootfs {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	if len(s.Mounts) > 0 {
		opts = append(opts, oci.WithMounts(ociMounts(s.Mounts)))
	}
	if s.NetworkMode == "host" {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace))
	} else {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: netnsPath(netns)}))
	}
	// Written by Start, before the task is created (see writeEtcFiles).
	opts = append(opts, oci.WithMounts(etcMounts(s, b.taskDir(s.TaskID))))
	if len(s.Files) > 0 {
		opts = append(opts, oci.WithMounts(fileMounts(s, b.filesDir(s.TaskID))))
	}
	r := s.Resources
	if r.NanoCPUs > 0 {
		opts = append(opts, oci.WithCPUCFS(r.NanoCPUs*cfsPeriod/1e9, cfsPeriod))
	}
	if r.CPUShares > 0 {
		opts = append(opts, oci.WithCPUShares(uint64(r.CPUShares)))
	}
	if r.MemoryBytes > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(r.MemoryBytes)))
		if swapAccounting() {
			// memory+swap = memory: the limit is a hard limit, so exceeding it is an OOM kill.
			opts = append(opts, oci.WithMemorySwap(r.MemoryBytes))
		}
	}
	if r.PidsLimit > 0 {
		opts = append(opts, oci.WithPidsLimit(r.PidsLimit))
	}
	return opts
}

// invalidOnError marks a failing option as a spec error (e.g. a user the image lacks).
func invalidOnError(what string, o oci.SpecOpts) oci.SpecOpts {
	return func(ctx context.Context, cl oci.Client, c *containers.Container, sp *oci.Spec) error {
		if err := o(ctx, cl, c, sp); err != nil {
			return invalid("%s: %v", what, err)
		}
		return nil
	}
}

// swapAccounting reports whether cgroup v1 memory+swap limits can be set here.
func swapAccounting() bool {
	_, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
	return err == nil
}

func stopSignal(s *runtime.TaskSpec) string {
	if s.StopSignal == "" {
		return "SIGTERM"
	}
	return s.StopSignal
}

func stopGrace(s *runtime.TaskSpec, grace time.Duration) time.Duration {
	switch {
	case grace > 0:
		return grace
	case s.StopGrace > 0:
		return s.StopGrace
	default:
		return defaultStopGrace
	}
}
