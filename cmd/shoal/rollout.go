package main

import (
	"fmt"
	"slices"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// rolloutFlags are the --update-* (or --rollback-*) flags of one policy.
type rolloutFlags struct {
	prefix         string
	parallelism    int64
	delay, monitor time.Duration
	action, order  string
	ratio          float64
}

func (r *rolloutFlags) register(fl *pflag.FlagSet, prefix, what string) {
	r.prefix = prefix
	fl.Int64Var(&r.parallelism, prefix+"-parallelism", 1, "tasks "+what+" at once (0: all at once)")
	fl.DurationVar(&r.delay, prefix+"-delay", 0, "delay between "+what+" batches")
	fl.DurationVar(&r.monitor, prefix+"-monitor", 5*time.Second, "how long a new task must run to count as "+what)
	actions := "pause, continue or rollback"
	if prefix == "rollback" {
		actions = "pause or continue"
	}
	fl.StringVar(&r.action, prefix+"-failure-action", "pause", "action on failure: "+actions)
	fl.Float64Var(&r.ratio, prefix+"-max-failure-ratio", 0, "failure rate to tolerate, 0 to 1")
	fl.StringVar(&r.order, prefix+"-order", "stop-first", "stop-first or start-first")
}

// apply sets the changed flags on *c, starting from swarm's defaults when
// the service has no policy yet.
func (r *rolloutFlags) apply(fs *pflag.FlagSet, c **shoalv1.UpdateConfig) error {
	changed := func(name string) bool { return fs.Changed(r.prefix + "-" + name) }
	if !slices.ContainsFunc([]string{"parallelism", "delay", "monitor", "failure-action", "max-failure-ratio", "order"}, changed) {
		return nil
	}
	if *c == nil {
		*c = &shoalv1.UpdateConfig{Parallelism: 1, Monitor: durationpb.New(5 * time.Second)}
	}
	cfg := *c
	if changed("parallelism") {
		cfg.Parallelism = r.parallelism
	}
	if changed("delay") {
		cfg.Delay = durationpb.New(r.delay)
	}
	if changed("monitor") {
		cfg.Monitor = durationpb.New(r.monitor)
	}
	if changed("max-failure-ratio") {
		cfg.MaxFailureRatio = r.ratio
	}
	if changed("failure-action") {
		a, err := r.failureAction()
		if err != nil {
			return err
		}
		cfg.FailureAction = a
	}
	if changed("order") {
		switch r.order {
		case "stop-first":
			cfg.Order = shoalv1.UpdateOrder_UPDATE_ORDER_STOP_FIRST
		case "start-first":
			cfg.Order = shoalv1.UpdateOrder_UPDATE_ORDER_START_FIRST
		default:
			return fmt.Errorf("--%s-order %q: use stop-first or start-first", r.prefix, r.order)
		}
	}
	return nil
}

func (r *rolloutFlags) failureAction() (shoalv1.UpdateFailureAction, error) {
	switch {
	case r.action == "pause":
		return shoalv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_PAUSE, nil
	case r.action == "continue":
		return shoalv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_CONTINUE, nil
	case r.action == "rollback" && r.prefix == "update":
		return shoalv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_ROLLBACK, nil
	case r.prefix == "update":
		return 0, fmt.Errorf("--update-failure-action %q: use pause, continue or rollback", r.action)
	}
	return 0, fmt.Errorf("--rollback-failure-action %q: use pause or continue (a rollback cannot roll back)", r.action)
}

// policyFlags are the update and rollback policy flags of service create
// and update.
type policyFlags struct {
	update, rollback rolloutFlags
}

func (p *policyFlags) register(fl *pflag.FlagSet) {
	p.update.register(fl, "update", "updated")
	p.rollback.register(fl, "rollback", "rolled back")
}

func (p *policyFlags) apply(fs *pflag.FlagSet, sp *shoalv1.ServiceSpec) error {
	if err := p.update.apply(fs, &sp.UpdateConfig); err != nil {
		return err
	}
	return p.rollback.apply(fs, &sp.RollbackConfig)
}

// rollbackService asks for ref's previous spec and, unless detached, shows
// the rollback's progress.
func rollbackService(cmd *cobra.Command, ref string, w waitFlags) error {
	cl, err := dial()
	if err != nil {
		return err
	}
	res, err := cl.Control.UpdateService(cmd.Context(), connect.NewRequest(&shoalv1.UpdateServiceRequest{Service: ref, Rollback: true}))
	if err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), ref)
	if w.detach {
		return nil
	}
	svc := res.Msg.GetService()
	return waitRolled(cmd.Context(), cl, svc.GetSpec().GetName(), cmd.OutOrStdout(), w.timeout, rollStarted(svc, true))
}

func newServiceRollbackCmd() *cobra.Command {
	var w waitFlags
	c := &cobra.Command{Use: "rollback [OPTIONS] SERVICE", Short: "Return a service to its previous spec", Args: cobra.ExactArgs(1)}
	w.register(c)
	c.RunE = func(cmd *cobra.Command, a []string) error { return rollbackService(cmd, a[0], w) }
	return c
}

// updateState is the state of a service's last roll as service ls shows
// it ("Updating", "Rollback paused"), "" when it never rolled.
func updateState(s *shoalv1.Service) string {
	return enumName(s.GetUpdateStatus().GetState().String(), "UPDATE_STATE_")
}
