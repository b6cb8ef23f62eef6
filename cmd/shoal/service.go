package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
)

func newServiceCmd() *cobra.Command {
	c := &cobra.Command{Use: "service", Short: "Manage services"}
	c.AddCommand(newServiceCreateCmd(), newServiceLsCmd(), newServicePsCmd(), newServiceInspectCmd(),
		newServiceScaleCmd(), newServiceUpdateCmd(), newServiceRollbackCmd(), newServiceRmCmd(), newServiceLogsCmd())
	return c
}

type waitFlags struct {
	detach  bool
	timeout time.Duration
}

func (w *waitFlags) register(c *cobra.Command) {
	c.Flags().BoolVarP(&w.detach, "detach", "d", false, "return at once instead of waiting for the service to converge")
	c.Flags().DurationVar(&w.timeout, "timeout", 5*time.Minute, "how long to wait for convergence")
}

func newServiceCreateCmd() *cobra.Command {
	var f specFlags
	var w waitFlags
	c := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [ARG...] | create --process [OPTIONS] -- CMD [ARG...]",
		Short: "Create a service",
		Args:  cobra.ArbitraryArgs,
	}
	f.register(c.Flags())
	w.register(c)
	// Flags end at the image, as in docker: "IMAGE httpd -f -p 80" passes
	// -f and -p to the container.
	c.Flags().SetInterspersed(false)
	c.RunE = func(cmd *cobra.Command, args []string) error {
		sp, err := f.spec(args)
		if err != nil {
			return err
		}
		cl, err := dial()
		if err != nil {
			return err
		}
		res, err := cl.Control.CreateService(cmd.Context(), connect.NewRequest(&shoalv1.CreateServiceRequest{Spec: sp}))
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), res.Msg.GetService().GetId())
		if w.detach {
			return nil
		}
		return waitConverged(cmd.Context(), cl, res.Msg.GetService().GetSpec().GetName(), cmd.OutOrStdout(), w.timeout)
	}
	return c
}

func serviceMode(s *shoalv1.Service) string {
	if s.GetSpec().GetGlobal() != nil {
		return "global"
	}
	return "replicated"
}

func serviceImage(s *shoalv1.Service) string {
	t := s.GetSpec().GetTask()
	if c := t.GetContainer(); c != nil {
		return c.GetImage()
	}
	if p := t.GetProcess(); p != nil {
		cmd := strings.Join(p.GetCommand(), " ")
		if len(cmd) > 40 {
			cmd = cmd[:37] + "..."
		}
		return "process: " + cmd
	}
	return ""
}

func newServiceLsCmd() *cobra.Command {
	var quiet *bool
	var statuses map[string]*shoalv1.ServiceStatus
	list := func(ctx context.Context, cl *client.Client) ([]*shoalv1.Service, error) {
		res, err := cl.Control.ListServices(ctx, connect.NewRequest(&shoalv1.ListServicesRequest{}))
		if err != nil {
			return nil, err
		}
		svcs := res.Msg.GetServices()
		statuses = make(map[string]*shoalv1.ServiceStatus, len(svcs))
		for i, s := range svcs {
			statuses[s.GetId()] = res.Msg.GetStatuses()[i]
		}
		sort.Slice(svcs, func(i, j int) bool { return svcs[i].GetSpec().GetName() < svcs[j].GetSpec().GetName() })
		return svcs, nil
	}
	c := listCmd("List services", list, func(w io.Writer, svcs []*shoalv1.Service) error {
		var rows [][]string
		for _, s := range svcs {
			if *quiet {
				fmt.Fprintln(w, s.GetId())
				continue
			}
			st := statuses[s.GetId()]
			rows = append(rows, []string{shortID(s.GetId()), s.GetSpec().GetName(), serviceMode(s),
				fmt.Sprintf("%d/%d", st.GetRunningTasks(), st.GetDesiredTasks()), serviceImage(s), servicePorts(s), updateState(s)})
		}
		if *quiet {
			return nil
		}
		return table(w, []string{"ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS", "UPDATE"}, rows)
	})
	quiet = c.Flags().BoolP("quiet", "q", false, "print IDs only")
	return c
}

func nodeNames(cmd *cobra.Command, cl *client.Client) map[string]string {
	names := map[string]string{}
	res, err := cl.Control.ListNodes(cmd.Context(), connect.NewRequest(&shoalv1.ListNodesRequest{}))
	if err != nil {
		return names
	}
	for _, n := range res.Msg.GetNodes() {
		names[n.GetId()] = n.GetDescription().GetHostname()
	}
	return names
}

func newServicePsCmd() *cobra.Command {
	c := &cobra.Command{Use: "ps SERVICE...", Short: "List the tasks of services", Args: cobra.MinimumNArgs(1)}
	format := formatFlag(c, "table", "json")
	noTrunc := c.Flags().Bool("no-trunc", false, "do not truncate IDs and errors")
	return withClient(c, func(cmd *cobra.Command, cl *client.Client, args []string) error {
		all, err := listTasks(cmd.Context(), cl, args, func(a string) *shoalv1.ListTasksRequest { return &shoalv1.ListTasksRequest{Service: a} })
		if err != nil {
			return err
		}
		return printTasks(cmd, cl, all, *format, *noTrunc)
	})
}

func newServiceInspectCmd() *cobra.Command {
	get := func(ctx context.Context, cl *client.Client, ref string) (*shoalv1.GetServiceResponse, error) {
		res, err := cl.Control.GetService(ctx, connect.NewRequest(&shoalv1.GetServiceRequest{Service: ref}))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}
	return withPretty(inspectCmd("inspect SERVICE...", "Show services in detail", get), get, prettyService)
}

// updateSpec reads a service, lets edit change its spec, and writes it back.
// A write refused because the service changed since it was read (the
// orchestrator records a rolling update's progress in it) is tried again.
func updateSpec(cmd *cobra.Command, cl *client.Client, ref string, edit func(*shoalv1.ServiceSpec) error) (*shoalv1.Service, error) {
	for attempt := 1; ; attempt++ {
		svc, err := updateSpecOnce(cmd, cl, ref, edit)
		if connect.CodeOf(err) != connect.CodeAborted || attempt == 3 {
			return svc, err
		}
	}
}

func updateSpecOnce(cmd *cobra.Command, cl *client.Client, ref string, edit func(*shoalv1.ServiceSpec) error) (*shoalv1.Service, error) {
	res, err := cl.Control.GetService(cmd.Context(), connect.NewRequest(&shoalv1.GetServiceRequest{Service: ref}))
	if err != nil {
		return nil, err
	}
	svc := res.Msg.GetService()
	sp := proto.CloneOf(svc.GetSpec())
	if err := edit(sp); err != nil {
		return nil, err
	}
	up, err := cl.Control.UpdateService(cmd.Context(), connect.NewRequest(&shoalv1.UpdateServiceRequest{Service: svc.GetId(), Version: svc.GetMeta().GetVersion(), Spec: sp}))
	if err != nil {
		return nil, err
	}
	return up.Msg.GetService(), nil
}

func newServiceScaleCmd() *cobra.Command {
	var w waitFlags
	c := &cobra.Command{Use: "scale SERVICE=REPLICAS...", Short: "Scale replicated services", Args: cobra.MinimumNArgs(1)}
	w.register(c)
	c.RunE = func(cmd *cobra.Command, args []string) error {
		type target struct {
			ref string
			n   uint64
		}
		var ts []target
		for _, a := range args {
			ref, nStr, ok := strings.Cut(a, "=")
			n, err := strconv.ParseInt(nStr, 10, 64)
			if !ok || ref == "" || err != nil {
				return fmt.Errorf("%q: use SERVICE=REPLICAS, e.g. web=5", a)
			}
			if n < 0 {
				return fmt.Errorf("%q: replicas must be 0 or more", a)
			}
			ts = append(ts, target{ref, uint64(n)})
		}
		cl, err := dial()
		if err != nil {
			return err
		}
		for _, t := range ts {
			svc, err := updateSpec(cmd, cl, t.ref, func(sp *shoalv1.ServiceSpec) error {
				if sp.GetGlobal() != nil {
					return fmt.Errorf("service %s is global: it runs one task per node and cannot be scaled", t.ref)
				}
				sp.Mode = &shoalv1.ServiceSpec_Replicated{Replicated: &shoalv1.ReplicatedMode{Replicas: t.n}}
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s scaled to %d\n", t.ref, t.n)
			if !w.detach {
				if err := waitConverged(cmd.Context(), cl, svc.GetSpec().GetName(), cmd.OutOrStdout(), w.timeout); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return c
}

func newServiceRmCmd() *cobra.Command {
	return removeCmd("rm SERVICE...", "Remove services", func(ctx context.Context, cl *client.Client, name string) error {
		_, err := cl.Control.RemoveService(ctx, connect.NewRequest(&shoalv1.RemoveServiceRequest{Service: name}))
		return err
	})
}

func newServiceLogsCmd() *cobra.Command {
	c := &cobra.Command{Use: "logs [OPTIONS] SERVICE", Short: "Show the logs of a service's tasks", Args: cobra.ExactArgs(1)}
	follow := c.Flags().BoolP("follow", "f", false, "keep streaming new lines")
	tail := c.Flags().Int64("tail", -1, "number of lines from the end of each task's log (-1: all)")
	ts := c.Flags().BoolP("timestamps", "t", false, "show timestamps")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		cl, err := dial()
		if err != nil {
			return err
		}
		svc, err := cl.Control.GetService(cmd.Context(), connect.NewRequest(&shoalv1.GetServiceRequest{Service: args[0]}))
		if err != nil {
			return err
		}
		tasks, err := cl.Control.ListTasks(cmd.Context(), connect.NewRequest(&shoalv1.ListTasksRequest{Service: svc.Msg.GetService().GetId()}))
		if err != nil {
			return err
		}
		names := nodeNames(cmd, cl)
		label := map[string]string{}
		for _, t := range tasks.Msg.GetTasks() {
			label[t.GetId()] = fmt.Sprintf("%s.%d.%s@%s", t.GetServiceName(), t.GetSlot(), shortID(t.GetId()), names[t.GetNodeId()])
		}
		t := *tail
		if t == 0 {
			t = -2 // zero lines: the API reads 0 as "all"
		}
		stream, err := cl.Control.ServiceLogs(cmd.Context(), connect.NewRequest(&shoalv1.ServiceLogsRequest{Service: args[0], Follow: *follow, Tail: t}))
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		for stream.Receive() {
			for _, l := range stream.Msg().GetLines() {
				w := out
				if l.GetStream() == "stderr" {
					w = cmd.ErrOrStderr()
				}
				prefix := label[l.GetTaskId()]
				if prefix == "" {
					prefix = shortID(l.GetTaskId())
				}
				if *ts {
					prefix = l.GetTime().AsTime().Format(time.RFC3339Nano) + " " + prefix
				}
				fmt.Fprintf(w, "%s    | %s\n", prefix, strings.TrimRight(string(l.GetData()), "\n"))
			}
		}
		if err := stream.Err(); err != nil {
			return err
		}
		_ = os.Stdout.Sync()
		return nil
	}
	return c
}
