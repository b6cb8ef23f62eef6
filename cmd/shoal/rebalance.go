package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// rebalanceFlags set a RebalanceConfig (service create/update, cluster
// update).
type rebalanceFlags struct {
	plugin   string
	rm       bool
	interval time.Duration
	maxMoves uint32
	window   time.Duration
}

var rebalanceFlagNames = []string{"rebalance", "rebalance-rm", "rebalance-interval", "rebalance-max-moves", "rebalance-window"}

func (r *rebalanceFlags) register(fl *pflag.FlagSet, scope string) {
	fl.StringVar(&r.plugin, "rebalance", "", "rebalancer plugin that moves tasks of "+scope+" to better nodes now and then (built-in: evener); \"\" turns it off")
	fl.BoolVar(&r.rm, "rebalance-rm", false, "turn rebalancing off for "+scope)
	fl.DurationVar(&r.interval, "rebalance-interval", 0, "time between rebalance passes (default 30s; a node becoming ready starts one at once)")
	fl.Uint32Var(&r.maxMoves, "rebalance-max-moves", 0, "tasks moved per pass at most (default: the update parallelism, or 1)")
	fl.DurationVar(&r.window, "rebalance-window", 0, "a task moved is not moved again within this window (default 5m)")
}

// apply changes *rc as the given flags say; disable marks "turned off" on
// a service (overriding the cluster's rebalancer) rather than clearing.
func (r *rebalanceFlags) apply(fs *pflag.FlagSet, rc **shoalv1.RebalanceConfig, disable bool) error {
	if !slices.ContainsFunc(rebalanceFlagNames, fs.Changed) {
		return nil
	}
	if r.rm && fs.Changed("rebalance") && r.plugin != "" {
		return fmt.Errorf("--rebalance %q and --rebalance-rm: give one", r.plugin)
	}
	c := *rc
	if c == nil {
		c = &shoalv1.RebalanceConfig{}
	}
	if r.rm || fs.Changed("rebalance") && r.plugin == "" {
		if !disable {
			*rc = nil
			return nil
		}
		*rc = &shoalv1.RebalanceConfig{Disabled: true}
		return nil
	}
	if fs.Changed("rebalance") {
		c.Plugin, c.Disabled = r.plugin, false
	}
	if fs.Changed("rebalance-interval") {
		c.Interval = durationpb.New(r.interval)
	}
	if fs.Changed("rebalance-max-moves") {
		c.MaxMoves = r.maxMoves
	}
	if fs.Changed("rebalance-window") {
		c.Window = durationpb.New(r.window)
	}
	*rc = c
	return nil
}

// rebalanceText describes a rebalance config for service inspect --pretty.
func rebalanceText(own, cluster *shoalv1.RebalanceConfig) string {
	rc, from := own, ""
	switch {
	case own.GetDisabled():
		return "off (turned off for this service)"
	case own.GetPlugin() == "" && cluster.GetPlugin() != "":
		rc, from = cluster, " (the cluster's)"
	case own.GetPlugin() == "":
		return "off"
	}
	text := rc.GetPlugin() + from
	if d := rc.GetInterval().AsDuration(); d > 0 {
		text += fmt.Sprintf(", every %s", d)
	}
	if n := rc.GetMaxMoves(); n > 0 {
		text += fmt.Sprintf(", at most %d moves per pass", n)
	}
	if d := rc.GetWindow().AsDuration(); d > 0 {
		text += fmt.Sprintf(", window %s", d)
	}
	return text
}

// testRebalance runs plugin test --rebalance: the moves a rebalancer
// would make for a service now, applying nothing.
func testRebalance(cmd *cobra.Command, plugin, service string, args []string, format string) error {
	switch {
	case len(args) > 0:
		return fmt.Errorf("with --rebalance give the plugin as its value, not as an argument: shoal plugin test --rebalance NAME --service S")
	case plugin == "":
		return fmt.Errorf("--rebalance: name a rebalancer plugin (built-in: evener) or a module FILE.wasm")
	case service == "":
		return fmt.Errorf("--service: name the service to rebalance (a dry run: nothing moves)")
	}
	req := &shoalv1.TestPluginRequest{RebalanceService: service}
	if strings.HasSuffix(plugin, ".wasm") || fileExists(plugin) {
		wasm, err := readModule(plugin)
		if err != nil {
			return err
		}
		req.Wasm = wasm
	} else {
		req.Name = plugin
	}
	cl, err := dial()
	if err != nil {
		return err
	}
	ctx, cancel := moduleCallContext(cmd)
	defer cancel()
	res, err := cl.Control.TestPlugin(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	if format == "json" {
		return printOneJSON(cmd.OutOrStdout(), res.Msg)
	}
	var rows [][]string
	applied := 0
	for _, m := range res.Msg.GetMoves() {
		verdict := "would move"
		if m.GetRejected() != "" {
			verdict = "rejected: " + m.GetRejected()
		} else {
			applied++
		}
		rows = append(rows, []string{m.GetTask(), strconv.FormatUint(m.GetSlot(), 10), m.GetFromNode(), m.GetToNode(), verdict})
	}
	if err := table(cmd.OutOrStdout(), []string{"TASK", "SLOT", "FROM", "TO", "VERDICT"}, rows); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "\n%d of %d proposed moves would be applied; the plugin answered in %s. Nothing was changed.\n",
		applied, len(res.Msg.GetMoves()), res.Msg.GetDuration())
	return nil
}

// rebalanceNote marks an event of a task in a rebalance move: the task
// asked to move, or the replacement started for it.
func rebalanceNote(e *shoalv1.Event) string {
	t := e.GetObject().GetTask()
	switch {
	case t.GetRebalanceTarget() != "":
		return ", rebalance: moving to " + t.GetRebalanceTarget()
	case t.GetRebalanceFrom() != "":
		return ", rebalance: replaces " + t.GetRebalanceFrom()
	}
	return ""
}
