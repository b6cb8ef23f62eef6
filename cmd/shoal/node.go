package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// EntryNodeHeader names the manager that answered a call (before forwarding).
const EntryNodeHeader = "Shoal-Node-Id"

func newNodeCmd() *cobra.Command {
	c := &cobra.Command{Use: "node", Short: "Manage nodes"}
	c.AddCommand(newNodeLsCmd(), newNodeInspectCmd(), newNodePromoteCmd(true), newNodePromoteCmd(false), newNodeRmCmd(), newNodeUpdateCmd())
	return c
}

func newNodeLsCmd() *cobra.Command {
	c := &cobra.Command{Use: "ls", Aliases: []string{"list"}, Short: "List nodes", Args: cobra.NoArgs}
	format := addFormatFlag(c, "table")
	c.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkFormat(*format, "table", "json"); err != nil {
			return err
		}
		cl, err := dial()
		if err != nil {
			return err
		}
		res, err := cl.Control.ListNodes(cmd.Context(), connect.NewRequest(&shoalv1.ListNodesRequest{}))
		if err != nil {
			return err
		}
		nodes := res.Msg.GetNodes()
		sort.Slice(nodes, func(i, j int) bool {
			return nodes[i].GetDescription().GetHostname()+nodes[i].GetId() < nodes[j].GetDescription().GetHostname()+nodes[j].GetId()
		})
		if *format == "json" {
			return printJSON(cmd.OutOrStdout(), nodes...)
		}
		self := res.Header().Get(EntryNodeHeader)
		rows := make([][]string, 0, len(nodes))
		for _, n := range nodes {
			id := n.GetId()
			if id == self {
				id += " *"
			}
			rows = append(rows, []string{id, n.GetDescription().GetHostname(),
				enumName(n.GetStatus().GetState().String(), "NODE_STATE_"),
				enumName(n.GetSpec().GetAvailability().String(), "NODE_AVAILABILITY_"),
				managerStatus(n), n.GetDescription().GetBackend()})
		}
		return table(cmd.OutOrStdout(), []string{"ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "BACKEND"}, rows)
	}
	return c
}

func managerStatus(n *shoalv1.Node) string {
	ms := n.GetManagerStatus()
	if ms == nil {
		return ""
	}
	if ms.GetLeader() {
		return "Leader"
	}
	if ms.GetLearner() && ms.GetReachability() == shoalv1.Reachability_REACHABILITY_REACHABLE {
		return "Joining"
	}
	return enumName(ms.GetReachability().String(), "REACHABILITY_")
}

func newNodeInspectCmd() *cobra.Command {
	c := &cobra.Command{Use: "inspect NODE...", Short: "Show nodes in detail", Args: cobra.MinimumNArgs(1)}
	format := addFormatFlag(c, "json")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*format, "json"); err != nil {
			return err
		}
		cl, err := dial()
		if err != nil {
			return err
		}
		var out []*shoalv1.Node
		for _, a := range args {
			res, err := cl.Control.GetNode(cmd.Context(), connect.NewRequest(&shoalv1.GetNodeRequest{Node: a}))
			if err != nil {
				return err
			}
			out = append(out, res.Msg.GetNode())
		}
		return printJSON(cmd.OutOrStdout(), out...)
	}
	return c
}

func newNodePromoteCmd(promote bool) *cobra.Command {
	use, short := "promote NODE...", "Promote nodes to managers"
	if !promote {
		use, short = "demote NODE...", "Demote managers to workers"
	}
	c := &cobra.Command{Use: use, Short: short, Args: cobra.MinimumNArgs(1)}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		cl, err := dial()
		if err != nil {
			return err
		}
		for _, a := range args {
			err := retryUnavailable(cmd.Context(), func() error {
				var err error
				if promote {
					_, err = cl.Control.PromoteNode(cmd.Context(), connect.NewRequest(&shoalv1.PromoteNodeRequest{Node: a}))
				} else {
					_, err = cl.Control.DemoteNode(cmd.Context(), connect.NewRequest(&shoalv1.DemoteNodeRequest{Node: a}))
				}
				return err
			})
			if err != nil {
				return err
			}
			verb := "promoted to a manager"
			if !promote {
				verb = "demoted to a worker"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Node %s %s.\n", a, verb)
		}
		return nil
	}
	return c
}

func newNodeRmCmd() *cobra.Command {
	c := &cobra.Command{Use: "rm NODE...", Aliases: []string{"remove"}, Short: "Remove nodes from the cluster", Args: cobra.MinimumNArgs(1)}
	force := c.Flags().BoolP("force", "f", false, "remove the node even if it is reachable (a reachable manager is demoted first)")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		cl, err := dial()
		if err != nil {
			return err
		}
		for _, a := range args {
			err := retryUnavailable(cmd.Context(), func() error {
				_, err := cl.Control.RemoveNode(cmd.Context(), connect.NewRequest(&shoalv1.RemoveNodeRequest{Node: a, Force: *force}))
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), a)
		}
		return nil
	}
	return c
}

func newNodeUpdateCmd() *cobra.Command {
	c := &cobra.Command{Use: "update NODE", Short: "Change a node's availability or labels", Args: cobra.ExactArgs(1)}
	avail := c.Flags().String("availability", "", "active, pause or drain")
	add := c.Flags().StringArray("label-add", nil, "add or change a label (key=value)")
	rm := c.Flags().StringArray("label-rm", nil, "remove a label (key)")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		req := &shoalv1.UpdateNodeRequest{Node: args[0], LabelAdd: map[string]string{}, LabelRm: *rm}
		switch strings.ToLower(*avail) {
		case "":
		case "active":
			req.Availability = shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE
		case "pause":
			req.Availability = shoalv1.NodeAvailability_NODE_AVAILABILITY_PAUSE
		case "drain":
			req.Availability = shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN
		default:
			return fmt.Errorf("--availability %q: use active, pause or drain", *avail)
		}
		for _, kv := range *add {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return fmt.Errorf("--label-add %q: use key=value", kv)
			}
			req.LabelAdd[k] = v
		}
		if req.Availability == 0 && len(req.LabelAdd) == 0 && len(req.LabelRm) == 0 {
			return fmt.Errorf("nothing to update: give --availability, --label-add or --label-rm")
		}
		cl, err := dial()
		if err != nil {
			return err
		}
		if _, err := cl.Control.UpdateNode(cmd.Context(), connect.NewRequest(req)); err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), args[0])
		return nil
	}
	return c
}

func newClusterCmd() *cobra.Command {
	c := &cobra.Command{Use: "cluster", Short: "Manage the cluster"}
	in := &cobra.Command{Use: "inspect", Short: "Show the cluster's configuration and Raft status", Args: cobra.NoArgs}
	format := addFormatFlag(in, "json")
	in.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkFormat(*format, "json"); err != nil {
			return err
		}
		cl, err := dial()
		if err != nil {
			return err
		}
		res, err := cl.Control.GetCluster(cmd.Context(), connect.NewRequest(&shoalv1.GetClusterRequest{}))
		if err != nil {
			return err
		}
		return printOneJSON(cmd.OutOrStdout(), res.Msg)
	}
	c.AddCommand(in)
	return c
}

func newJoinTokenCmd() *cobra.Command {
	c := &cobra.Command{Use: "join-token worker|manager", Short: "Show the join token for a role", Args: cobra.ExactArgs(1)}
	quiet := c.Flags().BoolP("quiet", "q", false, "print the token only")
	rotate := c.Flags().Bool("rotate", false, "replace the token with a new one")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		role := args[0]
		if role != "worker" && role != "manager" {
			return fmt.Errorf("role %q: use worker or manager", role)
		}
		cl, err := dial()
		if err != nil {
			return err
		}
		var tokens *shoalv1.JoinTokens
		if *rotate {
			r := shoalv1.NodeRole_NODE_ROLE_WORKER
			if role == "manager" {
				r = shoalv1.NodeRole_NODE_ROLE_MANAGER
			}
			res, err := cl.Control.RotateJoinToken(cmd.Context(), connect.NewRequest(&shoalv1.RotateJoinTokenRequest{Role: r}))
			if err != nil {
				return err
			}
			tokens = res.Msg.GetTokens()
		} else {
			res, err := cl.Control.GetJoinTokens(cmd.Context(), connect.NewRequest(&shoalv1.GetJoinTokensRequest{}))
			if err != nil {
				return err
			}
			tokens = res.Msg.GetTokens()
		}
		tok := tokens.GetWorker()
		if role == "manager" {
			tok = tokens.GetManager()
		}
		if *quiet {
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		}
		fmt.Fprintf(cmd.OutOrStdout(), "To add a %s to this cluster, run the following command:\n\n    shoal join --token %s MANAGER_ADDR\n\n", role, tok)
		return nil
	}
	return c
}

// retryUnavailable retries f while the managers answer Unavailable (an
// election, or leadership being handed over when the leader is demoted).
func retryUnavailable(ctx context.Context, f func() error) error {
	var err error
	for attempt := 0; attempt < 15; attempt++ {
		if err = f(); connect.CodeOf(err) != connect.CodeUnavailable {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
	return err
}
