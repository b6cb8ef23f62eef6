package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
)

// withPretty adds --pretty to an inspect command: each object printed
// readably (docker's service inspect --pretty) instead of as JSON.
func withPretty[M any](c *cobra.Command, get func(ctx context.Context, cl *client.Client, ref string) (M, error), pretty func(io.Writer, M)) *cobra.Command {
	on := c.Flags().Bool("pretty", false, "print a readable summary instead of JSON")
	asJSON := c.RunE
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if !*on {
			return asJSON(cmd, args)
		}
		cl, err := dial()
		if err != nil {
			return err
		}
		for i, a := range args {
			m, err := get(cmd.Context(), cl, a)
			if err != nil {
				return err
			}
			if i > 0 {
				fmt.Fprintln(cmd.OutOrStdout())
			}
			pretty(cmd.OutOrStdout(), m)
		}
		return nil
	}
	return c
}

// prettyWriter prints "Key:<tab>value" lines, indented by level.
type prettyWriter struct{ tw *tabwriter.Writer }

func (p prettyWriter) line(level int, key string, value any) {
	fmt.Fprintf(p.tw, "%s%s:\t%v\n", strings.Repeat(" ", level), key, value)
}

// lineIf prints the line unless value is empty.
func (p prettyWriter) lineIf(level int, key, value string) {
	if value != "" {
		p.line(level, key, value)
	}
}

func (p prettyWriter) header(level int, key string) {
	fmt.Fprintf(p.tw, "%s%s:\n", strings.Repeat(" ", level), key)
}

func (p prettyWriter) labels(level int, key string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	p.header(level, key)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(p.tw, "%s %s=%s\n", strings.Repeat(" ", level), k, m[k])
	}
}

// prettyService is the readable view of service inspect --pretty.
func prettyService(w io.Writer, res *shoalv1.GetServiceResponse) {
	p := prettyWriter{tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)}
	svc, sp := res.GetService(), res.GetService().GetSpec()
	p.line(0, "ID", svc.GetId())
	p.line(0, "Name", sp.GetName())
	p.labels(0, "Labels", sp.GetLabels())
	if sp.GetGlobal() != nil {
		p.line(0, "Service Mode", "Global")
	} else {
		p.line(0, "Service Mode", "Replicated")
		p.line(1, "Replicas", sp.GetReplicated().GetReplicas())
	}
	p.line(0, "Tasks", fmt.Sprintf("%d/%d running", res.GetStatus().GetRunningTasks(), res.GetStatus().GetDesiredTasks()))
	if rc := sp.GetRebalance(); rc != nil {
		p.line(0, "Rebalance", rebalanceText(rc, nil))
	}
	if ts := svc.GetMeta().GetUpdatedAt(); ts != nil {
		p.line(0, "Updated", ts.AsTime().UTC().Format(time.RFC3339))
	}
	prettyTask(p, sp.GetTask())
	if len(sp.GetNetworks()) > 0 {
		p.line(0, "Networks", strings.Join(sp.GetNetworks(), " "))
	}
	for i, port := range svc.GetEndpoint().GetPorts() {
		if i == 0 {
			p.header(0, "Ports")
		}
		p.line(1, "PublishedPort", port.GetPublishedPort())
		p.line(2, "Protocol", port.GetProtocol())
		p.line(2, "TargetPort", port.GetTargetPort())
	}
	p.tw.Flush()
}

func prettyTask(p prettyWriter, t *shoalv1.TaskSpec) {
	if pl := t.GetPlacement(); len(pl.GetConstraints()) > 0 || pl.GetMaxReplicas() > 0 {
		p.header(0, "Placement")
		p.lineIf(1, "Constraints", strings.Join(pl.GetConstraints(), ", "))
		if pl.GetMaxReplicas() > 0 {
			p.line(1, "Max Replicas Per Node", pl.GetMaxReplicas())
		}
	}
	if c := t.GetContainer(); c != nil {
		p.header(0, "ContainerSpec")
		p.line(1, "Image", c.GetImage())
		p.lineIf(1, "Command", strings.Join(c.GetCommand(), " "))
		p.lineIf(1, "Args", strings.Join(c.GetArgs(), " "))
		p.lineIf(1, "Env", strings.Join(c.GetEnv(), " "))
		p.lineIf(1, "User", c.GetUser())
		p.lineIf(1, "Dir", c.GetDir())
		for _, m := range c.GetMounts() {
			p.line(1, "Mount", fmt.Sprintf("%s %s -> %s", m.GetType(), m.GetSource(), m.GetTarget()))
		}
	}
	if pr := t.GetProcess(); pr != nil {
		p.header(0, "ProcessSpec")
		p.line(1, "Command", strings.Join(pr.GetCommand(), " "))
		p.lineIf(1, "Env", strings.Join(pr.GetEnv(), " "))
		p.lineIf(1, "Dir", pr.GetDir())
	}
	prettyFiles(p, t)
	prettyResources(p, t.GetResources())
}

func prettyFiles(p prettyWriter, t *shoalv1.TaskSpec) {
	for i, r := range t.GetSecrets() {
		if i == 0 {
			p.header(0, "Secrets")
		}
		p.line(1, "Target", "/run/secrets/"+r.GetTarget())
		p.line(2, "Source", r.GetSecretName())
		p.line(2, "Mode", fmt.Sprintf("%04o (uid %d, gid %d)", r.GetMode(), r.GetUid(), r.GetGid()))
	}
	for i, r := range t.GetConfigs() {
		if i == 0 {
			p.header(0, "Configs")
		}
		p.line(1, "Target", r.GetTarget())
		p.line(2, "Source", r.GetConfigName())
		p.line(2, "Mode", fmt.Sprintf("%04o (uid %d, gid %d)", r.GetMode(), r.GetUid(), r.GetGid()))
	}
}

func prettyResources(p prettyWriter, r *shoalv1.ResourceRequirements) {
	for _, part := range []struct {
		name string
		res  *shoalv1.Resources
	}{{"Limits", r.GetLimits()}, {"Reservations", r.GetReservations()}} {
		if part.res.GetNanoCpus() == 0 && part.res.GetMemoryBytes() == 0 {
			continue
		}
		p.header(0, "Resources "+part.name)
		if n := part.res.GetNanoCpus(); n > 0 {
			p.line(1, "CPU", float64(n)/1e9)
		}
		if m := part.res.GetMemoryBytes(); m > 0 {
			p.line(1, "Memory", units.BytesSize(float64(m)))
		}
	}
}
