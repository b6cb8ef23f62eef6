package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
)

// updateFlags are the service-update flags; each changes one part of the spec.
type updateFlags struct {
	fs        *pflag.FlagSet
	replicas  int64
	image     string
	args      []string
	envAdd    []string
	envRm     []string
	cAdd      []string
	cRm       []string
	resources resourceFlags
	restart   string
	scheduler string
	force     bool
	netAdd    []string
	netRm     []string
	files     fileFlags
	policies  policyFlags
	rollback  bool
	publish   []string
	pubAdd    []string
	pubRm     []string
	rebalance rebalanceFlags
}

func (u *updateFlags) register(fl *pflag.FlagSet) {
	u.fs = fl
	fl.Int64Var(&u.replicas, "replicas", -1, "number of tasks")
	fl.StringVar(&u.image, "image", "", "new image")
	fl.StringArrayVar(&u.args, "args", nil, "new command arguments (container) or command (process)")
	fl.StringArrayVar(&u.envAdd, "env-add", nil, "add or change an environment variable KEY=VALUE")
	fl.StringArrayVar(&u.envRm, "env-rm", nil, "remove an environment variable KEY")
	fl.StringArrayVar(&u.cAdd, "constraint-add", nil, "add a placement constraint")
	fl.StringArrayVar(&u.cRm, "constraint-rm", nil, "remove a placement constraint")
	u.resources.register(fl)
	fl.StringVar(&u.restart, "restart-condition", "", "none, on-failure or any")
	fl.StringVar(&u.scheduler, "scheduler", "", "scheduler plugin for this service")
	u.rebalance.register(fl, "this service")
	fl.BoolVar(&u.force, "force", false, "replace the tasks even if nothing changed")
	fl.StringArrayVar(&u.netAdd, "network-add", nil, "attach to a cluster network (name or ID; repeatable)")
	fl.StringArrayVar(&u.netRm, "network-rm", nil, "detach from a cluster network (name or ID; repeatable)")
	u.files.register(fl, true)
	u.policies.register(fl)
	fl.BoolVar(&u.rollback, "rollback", false, "return to the previous spec (other flags are refused)")
	fl.StringArrayVarP(&u.publish, "publish", "p", nil, "publish a port (as service create --publish; repeatable)")
	fl.StringArrayVar(&u.pubAdd, "publish-add", nil, "the same as --publish (docker's name)")
	fl.StringArrayVar(&u.pubRm, "publish-rm", nil, "stop publishing a port: PUBLISHED[/udp] (repeatable)")
}

// apply changes sp (of service ref) as the flags say.
func (u *updateFlags) apply(ref string, sp *shoalv1.ServiceSpec) error {
	t := sp.GetTask()
	if t.GetProcess() != nil {
		if err := refuseContainerOnly(u.fs); err != nil {
			return err
		}
	}
	policies := func(_ string, sp *shoalv1.ServiceSpec) error { return u.policies.apply(u.fs, sp) }
	rebalance := func(_ string, sp *shoalv1.ServiceSpec) error { return u.rebalance.apply(u.fs, &sp.Rebalance, true) }
	steps := []func(string, *shoalv1.ServiceSpec) error{u.applyMode, u.applyCommand, u.applyEnv, u.applyResources, u.applyRestart, policies, rebalance, u.applyPublish}
	for _, step := range steps {
		if err := step(ref, sp); err != nil {
			return err
		}
	}
	if t.Placement == nil {
		t.Placement = &shoalv1.Placement{}
	}
	for _, cr := range u.cRm {
		t.Placement.Constraints = slices.DeleteFunc(t.Placement.Constraints, func(c string) bool { return c == cr })
	}
	t.Placement.Constraints = append(t.Placement.Constraints, u.cAdd...)
	if u.fs.Changed("scheduler") {
		sp.Scheduler = u.scheduler
	}
	if u.force {
		t.ForceUpdate++
	}
	sp.Networks = slices.DeleteFunc(sp.Networks, func(id string) bool { return slices.Contains(u.netRm, id) })
	for _, id := range u.netAdd {
		if !slices.Contains(sp.Networks, id) {
			sp.Networks = append(sp.Networks, id)
		}
	}
	return u.files.apply(t)
}

// resolveNetworks turns the --network-add/--network-rm names into IDs, as
// the stored spec holds them.
func (u *updateFlags) resolveNetworks(ctx context.Context, cl *client.Client) error {
	for _, refs := range []*[]string{&u.netAdd, &u.netRm} {
		for i, ref := range *refs {
			res, err := cl.Control.GetNetwork(ctx, connect.NewRequest(&shoalv1.GetNetworkRequest{Network: ref}))
			if err != nil {
				return err
			}
			(*refs)[i] = res.Msg.GetNetwork().GetId()
		}
	}
	return nil
}

func (u *updateFlags) applyMode(ref string, sp *shoalv1.ServiceSpec) error {
	switch {
	case u.replicas < -1:
		return fmt.Errorf("--replicas %d: must be 0 or more", u.replicas)
	case u.replicas == -1:
		return nil
	case sp.GetGlobal() != nil:
		return fmt.Errorf("--replicas: service %s is global", ref)
	}
	sp.Mode = &shoalv1.ServiceSpec_Replicated{Replicated: &shoalv1.ReplicatedMode{Replicas: uint64(u.replicas)}}
	return nil
}

func (u *updateFlags) applyCommand(ref string, sp *shoalv1.ServiceSpec) error {
	t := sp.GetTask()
	if u.image != "" {
		c := t.GetContainer()
		if c == nil {
			return fmt.Errorf("--image: service %s runs a process, not a container", ref)
		}
		c.Image = u.image
	}
	if len(u.args) > 0 {
		if c := t.GetContainer(); c != nil {
			c.Args = u.args
		} else {
			t.GetProcess().Command = u.args
		}
	}
	return nil
}

func (u *updateFlags) applyEnv(ref string, sp *shoalv1.ServiceSpec) error {
	if len(u.envRm) == 0 && len(u.envAdd) == 0 {
		return nil
	}
	var env *[]string
	switch t := sp.GetTask(); {
	case t.GetContainer() != nil:
		env = &t.GetContainer().Env
	case t.GetProcess() != nil:
		env = &t.GetProcess().Env
	default:
		return fmt.Errorf("--env-add, --env-rm: service %s runs neither a container nor a process", ref)
	}
	for _, k := range u.envRm {
		*env = slices.DeleteFunc(*env, func(e string) bool { return e == k || strings.HasPrefix(e, k+"=") })
	}
	for _, kv := range u.envAdd {
		k, _, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("--env-add %q: use KEY=VALUE", kv)
		}
		*env = slices.DeleteFunc(*env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
		*env = append(*env, kv)
	}
	return nil
}

func (u *updateFlags) applyResources(_ string, sp *shoalv1.ServiceSpec) error {
	t := sp.GetTask()
	if t.Resources == nil {
		t.Resources = &shoalv1.ResourceRequirements{}
	}
	return u.resources.apply(t.Resources)
}

func (u *updateFlags) applyRestart(_ string, sp *shoalv1.ServiceSpec) error {
	if u.restart == "" {
		return nil
	}
	cond, err := restartCondition(u.restart)
	if err != nil {
		return err
	}
	t := sp.GetTask()
	if t.Restart == nil {
		t.Restart = &shoalv1.RestartPolicy{}
	}
	t.Restart.Condition = cond
	return nil
}

func newServiceUpdateCmd() *cobra.Command {
	var w waitFlags
	var u updateFlags
	c := &cobra.Command{Use: "update [OPTIONS] SERVICE", Short: "Update a service", Args: cobra.ExactArgs(1)}
	w.register(c)
	u.register(c.Flags())
	c.RunE = func(cmd *cobra.Command, a []string) error {
		if u.rollback {
			var other []string
			local := cmd.LocalFlags()
			cmd.Flags().Visit(func(f *pflag.Flag) {
				if local.Lookup(f.Name) != nil && f.Name != "rollback" && f.Name != "detach" && f.Name != "timeout" {
					other = append(other, "--"+f.Name)
				}
			})
			if len(other) > 0 {
				return fmt.Errorf("--rollback returns to the previous spec: drop %s", strings.Join(other, ", "))
			}
			return rollbackService(cmd, a[0], w)
		}
		cl, err := dial()
		if err != nil {
			return err
		}
		if err := u.resolveNetworks(cmd.Context(), cl); err != nil {
			return err
		}
		svc, err := updateSpec(cmd, cl, a[0], func(sp *shoalv1.ServiceSpec) error { return u.apply(a[0], sp) })
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), a[0])
		if w.detach {
			return nil
		}
		return waitRolled(cmd.Context(), cl, svc.GetSpec().GetName(), cmd.OutOrStdout(), w.timeout, rollStarted(svc, false))
	}
	return c
}
