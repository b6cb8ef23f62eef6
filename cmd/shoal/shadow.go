package main

import (
	"fmt"
	"strconv"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
)

func newPluginShadowCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "shadow NAME [--for SERVICE] | shadow --off",
		Short: "Run a scheduler plugin beside the active one on every live pass and report where it differs (never applied)",
		Args:  cobra.MaximumNArgs(1),
	}
	svc := c.Flags().String("for", "", "shadow only this service's passes")
	off := c.Flags().Bool("off", false, "stop shadowing")
	return withClient(c, func(cmd *cobra.Command, cl *client.Client, args []string) error {
		req := &shoalv1.ShadowPluginRequest{ForService: *svc, Off: *off}
		if len(args) == 1 {
			req.Name = args[0]
		} else if !*off {
			return fmt.Errorf("give the scheduler plugin to shadow (NAME), or --off to stop shadowing")
		}
		ctx, cancel := moduleCallContext(cmd)
		defer cancel()
		res, err := cl.Control.ShadowPlugin(ctx, connect.NewRequest(req))
		if err != nil {
			return err
		}
		sp := res.Msg.GetCluster().GetSpec()
		if sp.GetShadowScheduler() == "" {
			fmt.Fprintln(cmd.OutOrStdout(), "No shadow scheduler.")
			return nil
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Shadow scheduler: %s (report: shoal plugin shadow-report %s)\n", sp.GetShadowScheduler(), sp.GetShadowScheduler())
		return nil
	})
}

func newPluginShadowReportCmd() *cobra.Command {
	c := &cobra.Command{Use: "shadow-report NAME", Short: "Show how a shadow scheduler's answers differ from the applied ones (the leader's memory since it was elected)", Args: cobra.ExactArgs(1)}
	format := formatFlag(c, "table", "json")
	return withClient(c, func(cmd *cobra.Command, cl *client.Client, args []string) error {
		ctx, cancel := moduleCallContext(cmd)
		defer cancel()
		res, err := cl.Control.ShadowReport(ctx, connect.NewRequest(&shoalv1.ShadowReportRequest{Name: args[0]}))
		if err != nil {
			return err
		}
		r := res.Msg.GetReport()
		if *format == "json" {
			return printOneJSON(cmd.OutOrStdout(), r)
		}
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "Shadow %s: %d passes, %d differing, %d tasks placed elsewhere, %d not placed, %d failed, %d dropped (busy); call time %s in all\n\n",
			r.GetName(), r.GetPasses(), r.GetDifferingPasses(), r.GetMoved(), r.GetUnplaced(), r.GetFailures(), r.GetDropped(), r.GetCallTime().AsDuration())
		var rows [][]string
		for _, p := range r.GetLast() {
			u := func(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
			rows = append(rows, []string{p.GetAt().AsTime().Format("15:04:05.000"), p.GetActive(), u(p.GetTasks()), u(p.GetMoved()), u(p.GetUnplaced()),
				u(p.GetActiveNodes()) + " / " + u(p.GetShadowNodes()), p.GetCallTime().AsDuration().String(), p.GetError()})
		}
		return table(w, []string{"AT", "ACTIVE", "TASKS", "ELSEWHERE", "NOT PLACED", "NODES USED (ACTIVE / SHADOW)", "CALL", "ERROR"}, rows)
	})
}
