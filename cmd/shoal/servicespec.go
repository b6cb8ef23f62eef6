package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// specFlags are the service-create flags that shape a ServiceSpec.
type specFlags struct {
	fs            *pflag.FlagSet
	name          string
	mode          string
	replicas      int64
	process       bool
	env           []string
	workdir       string
	user          string
	hostname      string
	readOnly      bool
	mounts        []string
	resources     resourceFlags
	restartCond   string
	restartDelay  time.Duration
	restartMax    int64
	restartWindow time.Duration
	constraints   []string
	prefs         []string
	maxReplicas   int64
	stopSignal    string
	stopGrace     time.Duration
	healthCmd     string
	healthIntv    time.Duration
	healthTimeout time.Duration
	healthRetries int
	healthStart   time.Duration
	network       []string
	pidsLimit     int64
	scheduler     string
	publish       []string
	labels        []string
	files         fileFlags
	policies      policyFlags
	rebalance     rebalanceFlags
}

func (f *specFlags) register(fl *pflag.FlagSet) {
	f.fs = fl
	fl.StringVar(&f.name, "name", "", "service name")
	fl.StringVar(&f.mode, "mode", "replicated", "replicated or global")
	fl.Int64Var(&f.replicas, "replicas", 1, "number of tasks (replicated mode)")
	fl.BoolVar(&f.process, "process", false, "run a plain host process instead of a container: shoal service create --process -- CMD [ARGS...]")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "environment variable KEY=VALUE (repeatable)")
	fl.StringVarP(&f.workdir, "workdir", "w", "", "working directory")
	fl.StringVarP(&f.user, "user", "u", "", "user (container): name or uid[:gid]")
	fl.StringVar(&f.hostname, "hostname", "", "container hostname")
	fl.BoolVar(&f.readOnly, "read-only", false, "mount the container's root filesystem read-only")
	fl.StringArrayVar(&f.mounts, "mount", nil, "mount: type=bind|tmpfs,source=PATH,target=PATH[,readonly][,tmpfs-size=64m] (repeatable)")
	f.resources.register(fl)
	fl.StringVar(&f.restartCond, "restart-condition", "any", "restart when a task ends: none, on-failure or any")
	fl.DurationVar(&f.restartDelay, "restart-delay", 5*time.Second, "delay between restart attempts")
	fl.Int64Var(&f.restartMax, "restart-max-attempts", 0, "maximum restarts before giving up (0: unlimited)")
	fl.DurationVar(&f.restartWindow, "restart-window", 0, "window used to evaluate the restart policy (0: unbounded)")
	fl.StringArrayVar(&f.constraints, "constraint", nil, "placement constraint, e.g. node.labels.zone==a (repeatable)")
	fl.StringArrayVar(&f.prefs, "placement-pref", nil, "placement preference spread=node.labels.KEY (repeatable)")
	fl.Int64Var(&f.maxReplicas, "max-replicas", 0, "maximum tasks of this service per node (0: unlimited)")
	fl.StringVar(&f.stopSignal, "stop-signal", "", "signal that stops a task (default SIGTERM)")
	fl.DurationVar(&f.stopGrace, "stop-grace-period", 10*time.Second, "time to wait after the stop signal before killing")
	fl.StringVar(&f.healthCmd, "health-cmd", "", "command run in the container to check health (sh -c)")
	fl.DurationVar(&f.healthIntv, "health-interval", 0, "time between health checks (default 30s)")
	fl.DurationVar(&f.healthTimeout, "health-timeout", 0, "health check timeout (default 30s)")
	fl.IntVar(&f.healthRetries, "health-retries", 0, "consecutive failures to report unhealthy (default 3)")
	fl.DurationVar(&f.healthStart, "health-start-period", 0, "start period during which failures do not count")
	fl.StringArrayVar(&f.network, "network", nil, "attach to a cluster network NAME (repeatable); bridge (default) or host set a container's network mode")
	fl.Int64Var(&f.pidsLimit, "pids-limit", 0, "maximum processes in the container (0: unlimited)")
	fl.StringVar(&f.scheduler, "scheduler", "", "scheduler plugin for this service (default: the cluster's active one)")
	f.rebalance.register(fl, "this service")
	fl.StringArrayVarP(&f.publish, "publish", "p", nil, "publish a port: published=P,target=T[,protocol=tcp|udp][,mode=ingress|host], or P:T[/udp], or T (a dynamic P); ingress: every node answers on P (repeatable)")
	fl.StringArrayVarP(&f.labels, "label", "l", nil, "service label key=value (repeatable)")
	f.files.register(fl, false)
	f.policies.register(fl)
}

func parseCPU(flag, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("--%s %q: use a non-negative number of CPUs, e.g. 0.5", flag, v)
	}
	return int64(f * 1e9), nil
}

func parseMemory(flag, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := units.RAMInBytes(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--%s %q: use a size such as 64MiB, 512m or 2GB (units b, k, m, g, t; KiB, MiB, GiB)", flag, v)
	}
	return n, nil
}

// resourceFlags are the limit and reservation flags of service create and
// update.
type resourceFlags struct {
	limitCPU, limitMemory, reserveCPU, reserveMemory string
}

func (r *resourceFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&r.limitCPU, "limit-cpu", "", "CPU limit of a container, in CPUs (e.g. 0.5)")
	fl.StringVar(&r.limitMemory, "limit-memory", "", "memory limit of a container (e.g. 64MiB)")
	fl.StringVar(&r.reserveCPU, "reserve-cpu", "", "CPUs reserved for each task on its node")
	fl.StringVar(&r.reserveMemory, "reserve-memory", "", "memory reserved for each task on its node (e.g. 256MiB)")
}

// apply sets the limits and reservations given on res.
func (r *resourceFlags) apply(res *shoalv1.ResourceRequirements) error {
	if res.Limits == nil {
		res.Limits = &shoalv1.Resources{}
	}
	if res.Reservations == nil {
		res.Reservations = &shoalv1.Resources{}
	}
	fields := []struct {
		flag, value string
		dst         *int64
		parse       func(flag, v string) (int64, error)
	}{
		{"limit-cpu", r.limitCPU, &res.Limits.NanoCpus, parseCPU},
		{"reserve-cpu", r.reserveCPU, &res.Reservations.NanoCpus, parseCPU},
		{"limit-memory", r.limitMemory, &res.Limits.MemoryBytes, parseMemory},
		{"reserve-memory", r.reserveMemory, &res.Reservations.MemoryBytes, parseMemory},
	}
	for _, f := range fields {
		if f.value != "" {
			n, err := f.parse(f.flag, f.value)
			if err != nil {
				return err
			}
			*f.dst = n
		}
	}
	return nil
}

// containerOnly are the flags of what only the container backend does: the
// process backend runs a plain host process, without namespaces, cgroups,
// mounts or health checks (see runtime/process).
var containerOnly = []string{
	"user", "hostname", "read-only", "mount", "pids-limit", "limit-cpu", "limit-memory",
	"health-cmd", "health-interval", "health-timeout", "health-retries", "health-start-period",
}

// refuseContainerOnly refuses the container-only flags given in fs.
func refuseContainerOnly(fs *pflag.FlagSet) error {
	var given []string
	for _, name := range containerOnly {
		if fs.Lookup(name) != nil && fs.Changed(name) {
			given = append(given, "--"+name)
		}
	}
	if len(given) == 0 {
		return nil
	}
	return fmt.Errorf("%s: container-only; a --process task is a plain host process, without namespaces, cgroups, mounts or health checks (drop it, or run an image)", strings.Join(given, ", "))
}

func parseKV(flag string, kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q: use key=value", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

func parseMount(s string) (*shoalv1.Mount, error) {
	m := &shoalv1.Mount{}
	for _, part := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch strings.TrimSpace(k) {
		case "type":
			m.Type = v
		case "source", "src":
			m.Source = v
		case "target", "dst", "destination":
			m.Target = v
		case "readonly", "ro":
			m.ReadOnly = v == "" || v == "true" || v == "1"
		case "tmpfs-size":
			n, err := units.RAMInBytes(v)
			if err != nil {
				return nil, fmt.Errorf("--mount %q: tmpfs-size %q is not a size", s, v)
			}
			m.SizeBytes = n
		default:
			return nil, fmt.Errorf("--mount %q: unknown key %q (use type, source, target, readonly, tmpfs-size)", s, k)
		}
	}
	if m.Type == "" {
		m.Type = "bind"
	}
	return m, nil
}

func restartCondition(s string) (shoalv1.RestartCondition, error) {
	switch s {
	case "none":
		return shoalv1.RestartCondition_RESTART_CONDITION_NONE, nil
	case "on-failure":
		return shoalv1.RestartCondition_RESTART_CONDITION_ON_FAILURE, nil
	case "any", "":
		return shoalv1.RestartCondition_RESTART_CONDITION_ANY, nil
	}
	return 0, fmt.Errorf("--restart-condition %q: use none, on-failure or any", s)
}

// spec builds the ServiceSpec from the flags and the positional arguments.
func (f *specFlags) spec(args []string) (*shoalv1.ServiceSpec, error) {
	sp := &shoalv1.ServiceSpec{Name: f.name, Scheduler: f.scheduler}
	switch f.mode {
	case "replicated":
		if f.replicas < 0 {
			return nil, fmt.Errorf("--replicas %d: must be 0 or more", f.replicas)
		}
		sp.Mode = &shoalv1.ServiceSpec_Replicated{Replicated: &shoalv1.ReplicatedMode{Replicas: uint64(f.replicas)}}
	case "global":
		sp.Mode = &shoalv1.ServiceSpec_Global{Global: &shoalv1.GlobalMode{}}
	default:
		return nil, fmt.Errorf("--mode %q: use replicated or global", f.mode)
	}
	labels, err := parseKV("label", f.labels)
	if err != nil {
		return nil, err
	}
	sp.Labels = labels
	if err := f.policies.apply(f.fs, sp); err != nil {
		return nil, err
	}
	if err := f.rebalance.apply(f.fs, &sp.Rebalance, true); err != nil {
		return nil, err
	}
	mode, nets, err := splitNetworks(f.network)
	if err != nil {
		return nil, err
	}
	sp.Networks = nets
	task := &shoalv1.TaskSpec{}
	if len(args) > 1 && args[1] == "--" { // IMAGE -- CMD...: the separator is not an argument
		args = append(args[:1:1], args[2:]...)
	}
	if len(args) == 0 {
		if f.process {
			return nil, fmt.Errorf("--process needs a command: shoal service create --process -- CMD [ARGS...]")
		}
		return nil, fmt.Errorf("give an image (shoal service create IMAGE [CMD...]) or --process -- CMD [ARGS...]")
	}
	if f.process {
		if err := refuseContainerOnly(f.fs); err != nil {
			return nil, err
		}
		if mode != "" {
			return nil, fmt.Errorf("--network: container-only with %q (a network mode); a --process task is a plain host process: give a cluster network name, or run an image", mode)
		}
		task.Runtime = &shoalv1.TaskSpec_Process{Process: &shoalv1.ProcessSpec{
			Command: args, Env: f.env, Dir: f.workdir, StopSignal: f.stopSignal, StopGracePeriod: durationpb.New(f.stopGrace),
		}}
	} else {
		c := &shoalv1.ContainerSpec{
			Image: args[0], Args: args[1:], Env: f.env, Dir: f.workdir, User: f.user, Hostname: f.hostname,
			ReadOnly: f.readOnly, StopSignal: f.stopSignal, StopGracePeriod: durationpb.New(f.stopGrace),
			NetworkMode: mode, PidsLimit: f.pidsLimit,
		}
		for _, ms := range f.mounts {
			m, err := parseMount(ms)
			if err != nil {
				return nil, err
			}
			c.Mounts = append(c.Mounts, m)
		}
		if f.healthCmd != "" {
			c.Healthcheck = &shoalv1.HealthConfig{
				Test: []string{"CMD-SHELL", f.healthCmd}, Interval: durationpb.New(f.healthIntv),
				Timeout: durationpb.New(f.healthTimeout), StartPeriod: durationpb.New(f.healthStart), Retries: uint32(f.healthRetries),
			}
		}
		task.Runtime = &shoalv1.TaskSpec_Container{Container: c}
	}
	task.Resources = &shoalv1.ResourceRequirements{}
	if err := f.resources.apply(task.Resources); err != nil {
		return nil, err
	}
	cond, err := restartCondition(f.restartCond)
	if err != nil {
		return nil, err
	}
	if f.restartMax < 0 {
		return nil, fmt.Errorf("--restart-max-attempts %d: must be 0 or more", f.restartMax)
	}
	task.Restart = &shoalv1.RestartPolicy{Condition: cond, Delay: durationpb.New(f.restartDelay), MaxAttempts: uint64(f.restartMax), Window: durationpb.New(f.restartWindow)}
	if f.maxReplicas < 0 {
		return nil, fmt.Errorf("--max-replicas %d: must be 0 or more", f.maxReplicas)
	}
	task.Placement = &shoalv1.Placement{Constraints: f.constraints, MaxReplicas: uint64(f.maxReplicas)}
	if err := f.files.apply(task); err != nil {
		return nil, err
	}
	for _, p := range f.prefs {
		d, ok := strings.CutPrefix(p, "spread=")
		if !ok {
			return nil, fmt.Errorf("--placement-pref %q: use spread=node.labels.KEY", p)
		}
		task.Placement.Preferences = append(task.Placement.Preferences, &shoalv1.PlacementPreference{SpreadDescriptor: d})
	}
	sp.Task = task
	for _, p := range f.publish {
		pc, err := parsePublish(p)
		if err != nil {
			return nil, err
		}
		if sp.Endpoint == nil {
			sp.Endpoint = &shoalv1.EndpointSpec{}
		}
		sp.Endpoint.Ports = append(sp.Endpoint.Ports, pc)
	}
	if sp.Name == "" {
		sp.Name = defaultServiceName(args, f.process)
	}
	return sp, nil
}

// defaultServiceName derives a name from the image or command, like docker's random names but readable.
func defaultServiceName(args []string, process bool) string {
	base := args[0]
	if !process {
		if i := strings.LastIndexByte(base, '/'); i >= 0 {
			base = base[i+1:]
		}
		base, _, _ = strings.Cut(base, ":")
		base, _, _ = strings.Cut(base, "@")
	} else if i := strings.LastIndexByte(base, '/'); i >= 0 {
		base = base[i+1:]
	}
	var b strings.Builder
	for _, r := range strings.ToLower(base) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
		}
	}
	name := strings.Trim(b.String(), "-")
	if name == "" {
		name = "svc"
	}
	return fmt.Sprintf("%s-%d", name, time.Now().Unix()%100000)
}

// splitNetworks splits the --network values into a container network mode
// (bridge or host, as in docker) and the cluster networks to attach to.
func splitNetworks(values []string) (mode string, nets []string, err error) {
	for _, v := range values {
		switch v {
		case "bridge", "host":
			if mode != "" && mode != v {
				return "", nil, fmt.Errorf("--network %s: the network mode is already %s; give one", v, mode)
			}
			mode = v
		case "":
			return "", nil, fmt.Errorf("--network: empty; give a network name, or bridge or host")
		default:
			nets = append(nets, v)
		}
	}
	if mode == "host" && len(nets) > 0 {
		return "", nil, fmt.Errorf("--network host: a host-network container cannot attach to cluster networks (%s)", strings.Join(nets, ", "))
	}
	return mode, nets, nil
}
