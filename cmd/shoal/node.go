package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/shoal-project/shoal/core/node"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
	"github.com/shoal-project/shoal/internal/endpoint"
)

func newNodeCmd() *cobra.Command {
	c := &cobra.Command{Use: "node", Short: "Manage nodes"}
	c.AddCommand(newNodeLsCmd(), newNodeInspectCmd(), newNodePromoteCmd(true), newNodePromoteCmd(false), newNodeRmCmd(), newNodeUpdateCmd(), newNodePsCmd())
	return c
}

func newNodeLsCmd() *cobra.Command {
	var self string // the node ID of the manager that answered
	list := func(ctx context.Context, cl *client.Client) ([]*shoalv1.Node, error) {
		res, err := cl.Control.ListNodes(ctx, connect.NewRequest(&shoalv1.ListNodesRequest{}))
		if err != nil {
			return nil, err
		}
		self = res.Header().Get(endpoint.HeaderEntryNode)
		nodes := res.Msg.GetNodes()
		sort.Slice(nodes, func(i, j int) bool {
			return nodes[i].GetDescription().GetHostname()+nodes[i].GetId() < nodes[j].GetDescription().GetHostname()+nodes[j].GetId()
		})
		return nodes, nil
	}
	return listCmd("List nodes", list, func(w io.Writer, nodes []*shoalv1.Node) error {
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
		return table(w, []string{"ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "BACKEND"}, rows)
	})
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
	return inspectCmd("inspect NODE...", "Show nodes in detail", func(ctx context.Context, cl *client.Client, ref string) (*shoalv1.Node, error) {
		res, err := cl.Control.GetNode(ctx, connect.NewRequest(&shoalv1.GetNodeRequest{Node: ref}))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetNode(), nil
	})
}

func newNodePromoteCmd(promote bool) *cobra.Command {
	c := &cobra.Command{Use: "promote NODE...", Short: "Promote nodes to managers", Args: cobra.MinimumNArgs(1)}
	done := "Node %s promoted to a manager.\n"
	call := func(ctx context.Context, cl *client.Client, ref string) error {
		_, err := cl.Control.PromoteNode(ctx, connect.NewRequest(&shoalv1.PromoteNodeRequest{Node: ref}))
		return err
	}
	if !promote {
		c.Use, c.Short, done = "demote NODE...", "Demote managers to workers", "Node %s demoted to a worker.\n"
		call = func(ctx context.Context, cl *client.Client, ref string) error {
			_, err := cl.Control.DemoteNode(ctx, connect.NewRequest(&shoalv1.DemoteNodeRequest{Node: ref}))
			return err
		}
	}
	return eachArgCmd(c, done, retrying(call))
}

// retrying calls call again while the managers answer Unavailable (an
// election, or leadership being handed over when the leader is demoted).
func retrying(call func(ctx context.Context, cl *client.Client, ref string) error) func(ctx context.Context, cl *client.Client, ref string) error {
	return func(ctx context.Context, cl *client.Client, ref string) error {
		return retryUnavailable(ctx, func() error { return call(ctx, cl, ref) })
	}
}

func newNodeRmCmd() *cobra.Command {
	c := &cobra.Command{Use: "rm NODE...", Aliases: []string{"remove"}, Short: "Remove nodes from the cluster", Args: cobra.MinimumNArgs(1)}
	force := c.Flags().BoolP("force", "f", false, "remove the node even if it is reachable (a reachable manager is demoted first)")
	return eachArgCmd(c, "%s\n", retrying(func(ctx context.Context, cl *client.Client, ref string) error {
		_, err := cl.Control.RemoveNode(ctx, connect.NewRequest(&shoalv1.RemoveNodeRequest{Node: ref, Force: *force}))
		return hintOn(err, connect.CodeFailedPrecondition, "'shoal node rm --force NODE' removes it anyway; demote a manager first with 'shoal node demote NODE'")
	}))
}

func newNodeUpdateCmd() *cobra.Command {
	c := &cobra.Command{Use: "update NODE", Short: "Change a node's availability or labels", Args: cobra.ExactArgs(1)}
	avail := c.Flags().String("availability", "", "active, pause or drain")
	add := c.Flags().StringArray("label-add", nil, "add or change a label (key=value)")
	rm := c.Flags().StringArray("label-rm", nil, "remove a label (key)")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		req := &shoalv1.UpdateNodeRequest{Node: args[0], LabelRm: *rm}
		if *avail != "" {
			a, err := node.ParseAvailability(*avail)
			if err != nil {
				return err
			}
			req.Availability = a
		}
		labels, err := parseKV("label-add", *add)
		if err != nil {
			return err
		}
		req.LabelAdd = labels
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
