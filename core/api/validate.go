package api

import (
	"path"
	"regexp"
	"strings"

	"github.com/shoal-project/shoal/core/scheduler"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

var serviceNameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

// imageRefRE is a loose check of a reference: [host[:port]/]path[:tag][@digest].
var imageRefRE = regexp.MustCompile(`^([a-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$`)

// validateServiceSpec checks a whole spec and names the first bad field.
func validateServiceSpec(sp *shoalv1.ServiceSpec) error {
	if sp == nil {
		return invalidArg("spec: required")
	}
	if err := validateServiceRebalance(sp); err != nil {
		return err
	}
	if !serviceNameRE.MatchString(sp.GetName()) {
		return invalidArg("spec.name %q: use 1-63 letters, digits and '-', starting and ending with a letter or digit", sp.GetName())
	}
	if err := validateLabels("spec.labels", sp.GetLabels()); err != nil {
		return err
	}
	if sp.GetMode() == nil {
		return invalidArg("spec.mode: give replicated (with replicas) or global")
	}
	if r := sp.GetReplicated(); r != nil && r.GetReplicas() > 100000 {
		return invalidArg("spec.replicated.replicas %d: at most 100000", r.GetReplicas())
	}
	if err := validateTaskSpec(sp.GetTask()); err != nil {
		return err
	}
	if err := validateUpdatePolicies(sp); err != nil {
		return err
	}
	if sp.GetGlobal() != nil && sp.GetTask().GetPlacement().GetMaxReplicas() > 0 {
		return invalidArg("spec.task.placement.max_replicas: not allowed with a global service (it runs one task per node)")
	}
	if err := validatePorts(sp.GetEndpoint().GetPorts()); err != nil {
		return err
	}
	if sp.GetTask().GetProcess() != nil {
		if err := validateProcessPorts(sp.GetEndpoint().GetPorts()); err != nil {
			return err
		}
	}
	return nil
}

func validateTaskSpec(t *shoalv1.TaskSpec) error {
	if t == nil {
		return invalidArg("spec.task: required")
	}
	switch rt := t.GetRuntime().(type) {
	case *shoalv1.TaskSpec_Container:
		if err := validateContainer(rt.Container); err != nil {
			return err
		}
	case *shoalv1.TaskSpec_Process:
		cmd := rt.Process.GetCommand()
		if len(cmd) == 0 || strings.TrimSpace(cmd[0]) == "" {
			return invalidArg("spec.task.process.command: empty; give the program and its arguments")
		}
		if err := validateEnv("spec.task.process.env", rt.Process.GetEnv()); err != nil {
			return err
		}
		if d := rt.Process.GetDir(); d != "" && !path.IsAbs(d) {
			return invalidArg("spec.task.process.dir %q: must be an absolute path", d)
		}
	default:
		return invalidArg("spec.task: give a container (image) or a process (command)")
	}
	res := t.GetResources()
	for _, f := range []struct {
		name string
		r    *shoalv1.Resources
	}{{"limits", res.GetLimits()}, {"reservations", res.GetReservations()}} {
		if f.r.GetNanoCpus() < 0 {
			return invalidArg("spec.task.resources.%s.nano_cpus %d: must not be negative", f.name, f.r.GetNanoCpus())
		}
		if f.r.GetMemoryBytes() < 0 {
			return invalidArg("spec.task.resources.%s.memory_bytes %d: must not be negative", f.name, f.r.GetMemoryBytes())
		}
	}
	if l := res.GetLimits().GetMemoryBytes(); l != 0 && l < 4<<20 {
		return invalidArg("spec.task.resources.limits.memory_bytes %d: at least 4 MiB (4194304)", l)
	}
	if l, r := res.GetLimits().GetMemoryBytes(), res.GetReservations().GetMemoryBytes(); l != 0 && r > l {
		return invalidArg("spec.task.resources.reservations.memory_bytes %d exceeds the limit %d", r, l)
	}
	if l, r := res.GetLimits().GetNanoCpus(), res.GetReservations().GetNanoCpus(); l != 0 && r > l {
		return invalidArg("spec.task.resources.reservations.nano_cpus %d exceeds the limit %d", r, l)
	}
	if lim := res.GetLimits(); t.GetProcess() != nil && (lim.GetNanoCpus() != 0 || lim.GetMemoryBytes() != 0) {
		return invalidArg("spec.task.resources.limits: the process runtime runs a plain host process and cannot enforce limits; use reservations, or a container")
	}
	if rp := t.GetRestart(); rp != nil {
		if rp.GetDelay().AsDuration() < 0 || rp.GetWindow().AsDuration() < 0 {
			return invalidArg("spec.task.restart: delay and window must not be negative")
		}
	}
	// The scheduler's own parser decides, so the API and the scheduler
	// can never disagree about what a constraint means.
	for i, c := range t.GetPlacement().GetConstraints() {
		if err := scheduler.ValidateConstraint(c); err != nil {
			return invalidArg("spec.task.placement.constraints[%d]: %v (use node.id, node.hostname, node.role or node.labels.KEY, then == or !=, then a value, e.g. node.labels.zone==a)", i, err)
		}
	}
	for i, p := range t.GetPlacement().GetPreferences() {
		if err := scheduler.ValidatePreference(p.GetSpreadDescriptor()); err != nil {
			return invalidArg("spec.task.placement.preferences[%d]: %v", i, err)
		}
	}
	return validateFileRefs(t)
}

func validateEnv(field string, env []string) error {
	for _, e := range env {
		k, _, ok := strings.Cut(e, "=")
		if !ok || k == "" {
			return invalidArg("%s: %q: use KEY=VALUE", field, e)
		}
	}
	return nil
}

func validateContainer(c *shoalv1.ContainerSpec) error {
	if c.GetImage() == "" {
		return invalidArg("spec.task.container.image: required (e.g. 127.0.0.1:5000/busybox:latest)")
	}
	if !imageRefRE.MatchString(c.GetImage()) {
		return invalidArg("spec.task.container.image %q: not a valid image reference (lowercase [registry/]name[:tag][@sha256:digest])", c.GetImage())
	}
	if err := validateEnv("spec.task.container.env", c.GetEnv()); err != nil {
		return err
	}
	if d := c.GetDir(); d != "" && !path.IsAbs(d) {
		return invalidArg("spec.task.container.dir %q: must be an absolute path", d)
	}
	for i, m := range c.GetMounts() {
		switch m.GetType() {
		case "bind":
			if !path.IsAbs(m.GetSource()) {
				return invalidArg("spec.task.container.mounts[%d].source %q: a bind mount needs an absolute host path", i, m.GetSource())
			}
		case "tmpfs":
		default:
			return invalidArg("spec.task.container.mounts[%d].type %q: use bind or tmpfs", i, m.GetType())
		}
		if !path.IsAbs(m.GetTarget()) || path.Clean(m.GetTarget()) == "/" {
			return invalidArg("spec.task.container.mounts[%d].target %q: must be an absolute path other than /", i, m.GetTarget())
		}
	}
	if nm := c.GetNetworkMode(); nm != "" && nm != "bridge" && nm != "host" {
		return invalidArg("spec.task.container.network_mode %q: use bridge or host", nm)
	}
	if c.GetPidsLimit() < 0 {
		return invalidArg("spec.task.container.pids_limit %d: must not be negative", c.GetPidsLimit())
	}
	if h := c.GetHealthcheck(); h != nil && len(h.GetTest()) > 0 {
		if h.GetInterval().AsDuration() < 0 || h.GetTimeout().AsDuration() < 0 {
			return invalidArg("spec.task.container.healthcheck: interval and timeout must not be negative")
		}
	}
	return nil
}
