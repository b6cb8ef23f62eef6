package main

import (
	"context"
	"fmt"
	"io"
	"sort"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
)

func newNetworkCmd() *cobra.Command {
	c := &cobra.Command{Use: "network", Short: "Manage cluster networks"}
	c.AddCommand(newNetworkCreateCmd(), newNetworkLsCmd(), newNetworkInspectCmd(), newNetworkRmCmd())
	return c
}

func newNetworkCreateCmd() *cobra.Command {
	var spec shoalv1.NetworkSpec
	var labels []string
	c := &cobra.Command{Use: "create [OPTIONS] NAME", Short: "Create an overlay network", Args: cobra.ExactArgs(1)}
	fl := c.Flags()
	fl.StringVar(&spec.Driver, "driver", "overlay", "network driver (only overlay)")
	fl.StringVar(&spec.Subnet, "subnet", "", "IPv4 subnet in CIDR form, /8 to /30 (default: a free /24 of 10.0.0.0/8)")
	fl.StringVar(&spec.Gateway, "gateway", "", "gateway address inside the subnet (default: its first address)")
	fl.BoolVar(&spec.Encrypted, "encrypted", false, "encrypt and authenticate the network's traffic between nodes (WireGuard)")
	fl.StringArrayVarP(&labels, "label", "l", nil, "network label key=value (repeatable)")
	return withClient(c, func(cmd *cobra.Command, cl *client.Client, args []string) error {
		kv, err := parseKV("label", labels)
		if err != nil {
			return err
		}
		spec.Name, spec.Labels = args[0], kv
		res, err := cl.Control.CreateNetwork(cmd.Context(), connect.NewRequest(&shoalv1.CreateNetworkRequest{Spec: &spec}))
		if err != nil {
			return hintOn(err, connect.CodeInvalidArgument, networkCreateHint(&spec))
		}
		fmt.Fprintln(cmd.OutOrStdout(), res.Msg.GetNetwork().GetId())
		return nil
	})
}

func newNetworkLsCmd() *cobra.Command {
	list := func(ctx context.Context, cl *client.Client) ([]*shoalv1.Network, error) {
		res, err := cl.Control.ListNetworks(ctx, connect.NewRequest(&shoalv1.ListNetworksRequest{}))
		if err != nil {
			return nil, err
		}
		ns := res.Msg.GetNetworks()
		sort.Slice(ns, func(i, j int) bool { return ns[i].GetSpec().GetName() < ns[j].GetSpec().GetName() })
		return ns, nil
	}
	return listCmd("List networks", list, func(w io.Writer, ns []*shoalv1.Network) error {
		rows := make([][]string, 0, len(ns))
		for _, n := range ns {
			enc := ""
			if n.GetSpec().GetEncrypted() {
				enc = "yes"
			}
			rows = append(rows, []string{shortID(n.GetId()), n.GetSpec().GetName(), n.GetSpec().GetDriver(),
				n.GetSubnet(), n.GetGateway(), fmt.Sprint(n.GetVni()), enc})
		}
		return table(w, []string{"ID", "NAME", "DRIVER", "SUBNET", "GATEWAY", "VNI", "ENCRYPTED"}, rows)
	})
}

func newNetworkInspectCmd() *cobra.Command {
	return inspectCmd("inspect NETWORK...", "Show networks in detail", func(ctx context.Context, cl *client.Client, ref string) (*shoalv1.Network, error) {
		res, err := cl.Control.GetNetwork(ctx, connect.NewRequest(&shoalv1.GetNetworkRequest{Network: ref}))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetNetwork(), nil
	})
}

func newNetworkRmCmd() *cobra.Command {
	return removeCmd("rm NETWORK...", "Remove networks no service uses", func(ctx context.Context, cl *client.Client, ref string) error {
		_, err := cl.Control.RemoveNetwork(ctx, connect.NewRequest(&shoalv1.RemoveNetworkRequest{Network: ref}))
		return hintOn(err, connect.CodeFailedPrecondition, "remove the services with 'shoal service rm SERVICE', or detach them with 'shoal service update --network-rm "+ref+" SERVICE'")
	})
}
