package main

import (
	"context"
	"fmt"
	"os"
	"slices"
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
		newServiceScaleCmd(), newServiceUpdateCmd(), newServiceRmCmd(), newServiceLogsCmd())
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

func servicePorts(s *shoalv1.Service) string {
	var out []string
	ports := s.GetEndpoint().GetPorts()
	if len(ports) == 0 {
		ports = s.GetSpec().GetEndpoint().GetPorts()
	}
	for _, p := range ports {
		out = append(out, fmt.Sprintf("*:%d->%d/%s", p.GetPublishedPort(), p.GetTargetPort(), p.GetProtocol()))
	}
	return strings.Join(out, ",")
}

func newServiceLsCmd() *cobra.Command {
	c := &cobra.Command{Use: "ls", Aliases: []string{"list"}, Short: "List services", Args: cobra.NoArgs}
	format := addFormatFlag(c, "table")
	quiet := c.Flags().BoolP("quiet", "q", false, "print IDs only")
	c.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkFormat(*format, "table", "json"); err != nil {
			return err
		}
		cl, err := dial()
		if err != nil {
			return err
		}
		res, err := cl.Control.ListServices(cmd.Context(), connect.NewRequest(&shoalv1.ListServicesRequest{}))
		if err != nil {
			return err
		}
		if *format == "json" {
			return printJSON(cmd.OutOrStdout(), res.Msg.GetServices()...)
		}
		type row struct {
			s  *shoalv1.Service
			st *shoalv1.ServiceStatus
		}
		var rs []row
		for i, s := range res.Msg.GetServices() {
			rs = append(rs, row{s, res.Msg.GetStatuses()[i]})
		}
		sort.Slice(rs, func(i, j int) bool { return rs[i].s.GetSpec().GetName() < rs[j].s.GetSpec().GetName() })
		if *quiet {
			for _, r := range rs {
				fmt.Fprintln(cmd.OutOrStdout(), r.s.GetId())
			}
			return nil
		}
		var rows [][]string
		for _, r := range rs {
			rows = append(rows, []string{shortID(r.s.GetId()), r.s.GetSpec().GetName(), serviceMode(r.s),
				fmt.Sprintf("%d/%d", r.st.GetRunningTasks(), r.st.GetDesiredTasks()), serviceImage(r.s), servicePorts(r.s)})
		}
		return table(cmd.OutOrStdout(), []string{"ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"}, rows)
	}
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
	format := addFormatFlag(c, "table")
	noTrunc := c.Flags().Bool("no-trunc", false, "do not truncate IDs and errors")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*format, "table", "json"); err != nil {
			return err
		}
		cl, err := dial()
		if err != nil {
			return err
		}
		var all []*shoalv1.Task
		for _, a := range args {
			res, err := cl.Control.ListTasks(cmd.Context(), connect.NewRequest(&shoalv1.ListTasksRequest{Service: a}))
			if err != nil {
				return err
			}
			all = append(all, res.Msg.GetTasks()...)
		}
		if *format == "json" {
			return printJSON(cmd.OutOrStdout(), all...)
		}
		names := nodeNames(cmd, cl)
		key := func(t *shoalv1.Task) string {
			if t.GetSlot() > 0 {
				return fmt.Sprintf("%s.%d", t.GetServiceName(), t.GetSlot())
			}
			return t.GetServiceName() + "." + t.GetNodeId()
		}
		sort.SliceStable(all, func(i, j int) bool {
			a, b := all[i], all[j]
			if a.GetServiceName() != b.GetServiceName() {
				return a.GetServiceName() < b.GetServiceName()
			}
			if a.GetSlot() != b.GetSlot() {
				return a.GetSlot() < b.GetSlot()
			}
			if a.GetSlot() == 0 && a.GetNodeId() != b.GetNodeId() {
				return a.GetNodeId() < b.GetNodeId()
			}
			return a.GetMeta().GetCreatedAt().AsTime().After(b.GetMeta().GetCreatedAt().AsTime())
		})
		now := time.Now()
		var rows [][]string
		prev := ""
		for _, t := range all {
			name := key(t)
			if t.GetSlot() == 0 {
				name = t.GetServiceName() + "." + shortID(t.GetNodeId())
			}
			if key(t) == prev {
				name = ` \_ ` + name
			}
			prev = key(t)
			id := t.GetId()
			errText := t.GetStatus().GetErr()
			if !*noTrunc {
				id = shortID(id)
				if len(errText) > 60 {
					errText = errText[:57] + "..."
				}
			}
			node := names[t.GetNodeId()]
			if node == "" {
				node = shortID(t.GetNodeId())
			}
			cur := enumName(t.GetStatus().GetState().String(), "TASK_STATE_")
			if ts := t.GetStatus().GetTimestamp(); ts != nil {
				cur += " " + strings.ToLower(ago(ts.AsTime(), now)[:1]) + ago(ts.AsTime(), now)[1:]
			}
			rows = append(rows, []string{id, name, node, enumName(t.GetDesiredState().String(), "TASK_STATE_"), cur, errText})
		}
		return table(cmd.OutOrStdout(), []string{"ID", "NAME", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR"}, rows)
	}
	return c
}

func newServiceInspectCmd() *cobra.Command {
	c := &cobra.Command{Use: "inspect SERVICE...", Short: "Show services in detail", Args: cobra.MinimumNArgs(1)}
	format := addFormatFlag(c, "json")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*format, "json"); err != nil {
			return err
		}
		cl, err := dial()
		if err != nil {
			return err
		}
		var out []*shoalv1.GetServiceResponse
		for _, a := range args {
			res, err := cl.Control.GetService(cmd.Context(), connect.NewRequest(&shoalv1.GetServiceRequest{Service: a}))
			if err != nil {
				return err
			}
			out = append(out, res.Msg)
		}
		return printJSON(cmd.OutOrStdout(), out...)
	}
	return c
}

// updateSpec reads a service, lets edit change its spec, and writes it back.
func updateSpec(cmd *cobra.Command, cl *client.Client, ref string, edit func(*shoalv1.ServiceSpec) error) (*shoalv1.Service, error) {
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

func newServiceUpdateCmd() *cobra.Command {
	var w waitFlags
	c := &cobra.Command{Use: "update [OPTIONS] SERVICE", Short: "Update a service", Args: cobra.ExactArgs(1)}
	w.register(c)
	fl := c.Flags()
	replicas := fl.Int64("replicas", -1, "number of tasks")
	image := fl.String("image", "", "new image")
	args := fl.StringArray("args", nil, "new command arguments (container) or command (process)")
	envAdd := fl.StringArray("env-add", nil, "add or change an environment variable KEY=VALUE")
	envRm := fl.StringArray("env-rm", nil, "remove an environment variable KEY")
	cAdd := fl.StringArray("constraint-add", nil, "add a placement constraint")
	cRm := fl.StringArray("constraint-rm", nil, "remove a placement constraint")
	limitCPU := fl.String("limit-cpu", "", "CPU limit")
	limitMem := fl.String("limit-memory", "", "memory limit")
	resCPU := fl.String("reserve-cpu", "", "CPU reservation")
	resMem := fl.String("reserve-memory", "", "memory reservation")
	restart := fl.String("restart-condition", "", "none, on-failure or any")
	scheduler := fl.String("scheduler", "", "scheduler plugin for this service")
	force := fl.Bool("force", false, "replace the tasks even if nothing changed")
	c.RunE = func(cmd *cobra.Command, a []string) error {
		cl, err := dial()
		if err != nil {
			return err
		}
		svc, err := updateSpec(cmd, cl, a[0], func(sp *shoalv1.ServiceSpec) error {
			t := sp.GetTask()
			if *replicas >= 0 {
				if sp.GetGlobal() != nil {
					return fmt.Errorf("--replicas: service %s is global", a[0])
				}
				sp.Mode = &shoalv1.ServiceSpec_Replicated{Replicated: &shoalv1.ReplicatedMode{Replicas: uint64(*replicas)}}
			} else if *replicas < -1 {
				return fmt.Errorf("--replicas %d: must be 0 or more", *replicas)
			}
			envp := func() *[]string {
				if c := t.GetContainer(); c != nil {
					return &c.Env
				}
				return &t.GetProcess().Env
			}
			if *image != "" {
				c := t.GetContainer()
				if c == nil {
					return fmt.Errorf("--image: service %s runs a process, not a container", a[0])
				}
				c.Image = *image
			}
			if len(*args) > 0 {
				if c := t.GetContainer(); c != nil {
					c.Args = *args
				} else {
					t.GetProcess().Command = *args
				}
			}
			env := envp()
			for _, k := range *envRm {
				*env = slices.DeleteFunc(*env, func(e string) bool { return e == k || strings.HasPrefix(e, k+"=") })
			}
			for _, kv := range *envAdd {
				k, _, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--env-add %q: use KEY=VALUE", kv)
				}
				*env = slices.DeleteFunc(*env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
				*env = append(*env, kv)
			}
			if t.Placement == nil {
				t.Placement = &shoalv1.Placement{}
			}
			for _, cr := range *cRm {
				t.Placement.Constraints = slices.DeleteFunc(t.Placement.Constraints, func(c string) bool { return c == cr })
			}
			t.Placement.Constraints = append(t.Placement.Constraints, *cAdd...)
			if t.Resources == nil {
				t.Resources = &shoalv1.ResourceRequirements{}
			}
			if t.Resources.Limits == nil {
				t.Resources.Limits = &shoalv1.Resources{}
			}
			if t.Resources.Reservations == nil {
				t.Resources.Reservations = &shoalv1.Resources{}
			}
			var err error
			if *limitCPU != "" {
				if t.Resources.Limits.NanoCpus, err = parseCPU("limit-cpu", *limitCPU); err != nil {
					return err
				}
			}
			if *resCPU != "" {
				if t.Resources.Reservations.NanoCpus, err = parseCPU("reserve-cpu", *resCPU); err != nil {
					return err
				}
			}
			if *limitMem != "" {
				if t.Resources.Limits.MemoryBytes, err = parseMemory("limit-memory", *limitMem); err != nil {
					return err
				}
			}
			if *resMem != "" {
				if t.Resources.Reservations.MemoryBytes, err = parseMemory("reserve-memory", *resMem); err != nil {
					return err
				}
			}
			if *restart != "" {
				cond, err := restartCondition(*restart)
				if err != nil {
					return err
				}
				if t.Restart == nil {
					t.Restart = &shoalv1.RestartPolicy{}
				}
				t.Restart.Condition = cond
			}
			if cmd.Flags().Changed("scheduler") {
				sp.Scheduler = *scheduler
			}
			if *force {
				if sp.Labels == nil {
					sp.Labels = map[string]string{}
				}
				if t.GetContainer() != nil {
					if t.GetContainer().Labels == nil {
						t.GetContainer().Labels = map[string]string{}
					}
					t.GetContainer().Labels["shoal.force-update"] = strconv.FormatInt(time.Now().UnixNano(), 10)
				} else {
					*env = append(slices.DeleteFunc(*env, func(e string) bool { return strings.HasPrefix(e, "SHOAL_FORCE_UPDATE=") }), "SHOAL_FORCE_UPDATE="+strconv.FormatInt(time.Now().UnixNano(), 10))
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), a[0])
		if w.detach {
			return nil
		}
		return waitConverged(cmd.Context(), cl, svc.GetSpec().GetName(), cmd.OutOrStdout(), w.timeout)
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
