package main

import (
	"context"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
	"github.com/shoal-project/shoal/internal/endpoint"
)

func newNodePsCmd() *cobra.Command {
	c := &cobra.Command{Use: "ps [NODE...]", Short: "List the tasks on nodes (default: the node you talk to)", Args: cobra.ArbitraryArgs}
	format := formatFlag(c, "table", "json")
	noTrunc := c.Flags().Bool("no-trunc", false, "do not truncate IDs and errors")
	return withClient(c, func(cmd *cobra.Command, cl *client.Client, args []string) error {
		if len(args) == 0 {
			self, err := selfNode(cmd.Context(), cl)
			if err != nil {
				return err
			}
			args = []string{self}
		}
		all, err := listTasks(cmd.Context(), cl, args, func(a string) *shoalv1.ListTasksRequest { return &shoalv1.ListTasksRequest{Node: a} })
		if err != nil {
			return err
		}
		return printTasks(cmd, cl, all, *format, *noTrunc)
	})
}

// selfNode is the ID of the manager that answers (docker's "self").
func selfNode(ctx context.Context, cl *client.Client) (string, error) {
	res, err := cl.Control.GetCluster(ctx, connect.NewRequest(&shoalv1.GetClusterRequest{}))
	if err != nil {
		return "", err
	}
	return res.Header().Get(endpoint.HeaderEntryNode), nil
}
