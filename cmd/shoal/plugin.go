package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
)

func newPluginCmd() *cobra.Command {
	c := &cobra.Command{Use: "plugin", Short: "Manage scheduler and allocator plugins (WebAssembly)"}
	c.AddCommand(newPluginInstallCmd(), newPluginLsCmd(), newPluginInspectCmd(), newPluginRmCmd(), newPluginActivateCmd(), newPluginTestCmd(),
		newPluginShadowCmd(), newPluginShadowReportCmd())
	return c
}

func pluginKind(s string) (shoalv1.PluginKind, error) {
	switch s {
	case "scheduler":
		return shoalv1.PluginKind_PLUGIN_KIND_SCHEDULER, nil
	case "allocator":
		return shoalv1.PluginKind_PLUGIN_KIND_ALLOCATOR, nil
	case "rebalancer":
		return shoalv1.PluginKind_PLUGIN_KIND_REBALANCER, nil
	}
	return 0, fmt.Errorf("--kind %q: use scheduler, allocator or rebalancer", s)
}

func readModule(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the module: %w", err)
	}
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return nil, fmt.Errorf("%s is not a WebAssembly module (build one with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared; see sdk/README.md)", path)
	}
	return b, nil
}

func newPluginInstallCmd() *cobra.Command {
	c := &cobra.Command{Use: "install NAME FILE.wasm --kind scheduler|allocator|rebalancer", Short: "Store a plugin module in the cluster; every manager compiles it", Args: cobra.ExactArgs(2)}
	kind := c.Flags().String("kind", "scheduler", "scheduler, allocator or rebalancer")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		k, err := pluginKind(*kind)
		if err != nil {
			return err
		}
		wasm, err := readModule(args[1])
		if err != nil {
			return err
		}
		cl, err := dial()
		if err != nil {
			return err
		}
		ctx, cancel := moduleCallContext(cmd)
		defer cancel()
		res, err := cl.Control.InstallPlugin(ctx, connect.NewRequest(&shoalv1.InstallPluginRequest{Name: args[0], Kind: k, Wasm: wasm}))
		if err != nil {
			return hintOn(err, connect.CodeAlreadyExists, "remove the installed one with 'shoal plugin rm NAME', or install this one under another name")
		}
		p := res.Msg.GetPlugin()
		fmt.Fprintf(cmd.OutOrStdout(), "Installed %s plugin %s (sha256 %s, %d bytes, ABI v%d). Use it with 'shoal plugin activate %s' or 'shoal service create --scheduler %s'.\n",
			kindWord(p.GetKind()), p.GetName(), shortID(p.GetId()), p.GetSize(), p.GetAbiVersion(), p.GetName(), p.GetName())
		return nil
	}
	return c
}

func kindWord(k shoalv1.PluginKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "PLUGIN_KIND_"))
}

func newPluginLsCmd() *cobra.Command {
	list := func(ctx context.Context, cl *client.Client) ([]*shoalv1.GetPluginResponse, error) {
		res, err := cl.Control.ListPlugins(ctx, connect.NewRequest(&shoalv1.ListPluginsRequest{}))
		if err != nil {
			return nil, err
		}
		out := make([]*shoalv1.GetPluginResponse, 0, len(res.Msg.GetPlugins()))
		for i, p := range res.Msg.GetPlugins() {
			out = append(out, &shoalv1.GetPluginResponse{Plugin: p, Stats: res.Msg.GetStats()[i]})
		}
		return out, nil
	}
	return listCmd("List plugins with this manager's call counters", list, func(w io.Writer, ps []*shoalv1.GetPluginResponse) error {
		var rows [][]string
		for _, r := range ps {
			p, st := r.GetPlugin(), r.GetStats()
			active, builtin := "", ""
			if st.GetActive() {
				active = "*"
			}
			if p.GetBuiltin() {
				builtin = "yes"
			}
			lastErr := st.GetLastError()
			if len(lastErr) > 50 {
				lastErr = lastErr[:47] + "..."
			}
			rows = append(rows, []string{p.GetName(), kindWord(p.GetKind()), active, builtin, shortID(p.GetId()),
				fmt.Sprint(p.GetSize()), fmt.Sprint(st.GetCalls()), fmt.Sprint(st.GetFailures()), lastErr})
		}
		return table(w, []string{"NAME", "KIND", "ACTIVE", "BUILTIN", "SHA256", "SIZE", "CALLS", "FAILURES", "LAST ERROR"}, rows)
	})
}

func newPluginInspectCmd() *cobra.Command {
	return inspectCmd("inspect NAME...", "Show plugins in detail", func(ctx context.Context, cl *client.Client, name string) (*shoalv1.GetPluginResponse, error) {
		res, err := cl.Control.GetPlugin(ctx, connect.NewRequest(&shoalv1.GetPluginRequest{Name: name}))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	})
}

func newPluginRmCmd() *cobra.Command {
	return removeCmd("rm NAME...", "Remove plugins", func(ctx context.Context, cl *client.Client, name string) error {
		_, err := cl.Control.RemovePlugin(ctx, connect.NewRequest(&shoalv1.RemovePluginRequest{Name: name}))
		return hintOn(err, connect.CodeFailedPrecondition, "make another plugin active with 'shoal plugin activate spread', or move services off it with 'shoal service update --scheduler spread SERVICE'")
	})
}

func newPluginActivateCmd() *cobra.Command {
	c := &cobra.Command{Use: "activate NAME", Short: "Make a plugin the cluster's default scheduler or allocator (takes effect on the next pass)", Args: cobra.ExactArgs(1)}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		cl, err := dial()
		if err != nil {
			return err
		}
		ctx, cancel := moduleCallContext(cmd)
		defer cancel()
		res, err := cl.Control.ActivatePlugin(ctx, connect.NewRequest(&shoalv1.ActivatePluginRequest{Name: args[0]}))
		if err != nil {
			return err
		}
		sp := res.Msg.GetCluster().GetSpec()
		fmt.Fprintf(cmd.OutOrStdout(), "Active scheduler: %s; active allocator: %s\n", cmp.Or(sp.GetDefaultScheduler(), "spread"), cmp.Or(sp.GetDefaultAllocator(), "ipam"))
		return nil
	}
	return c
}

func newPluginTestCmd() *cobra.Command {
	var f specFlags
	c := &cobra.Command{
		Use:   "test FILE.wasm|NAME [--service-spec FILE.json | SERVICE OPTIONS -- IMAGE|--process CMD...] | test --rebalance FILE.wasm|NAME --service S",
		Short: "Dry-run a scheduler plugin against the live cluster: where it would place tasks, and why some would stay pending",
		Long: "Dry-run a scheduler plugin against the live cluster state without changing anything.\n" +
			"Without a service it places the cluster's pending tasks; with --service-spec (a ServiceSpec in JSON)\n" +
			"or service-create options and a command it places that hypothetical service.\n" +
			"With --rebalance NAME --service S it asks a rebalancer plugin which of S's tasks it would move now,\n" +
			"and shows whether the manager would apply each move (and why not).",
		Args: cobra.ArbitraryArgs,
	}
	f.register(c.Flags())
	specFile := c.Flags().String("service-spec", "", "a ServiceSpec in JSON (as in 'shoal service inspect' .service.spec)")
	service := c.Flags().String("service", "", "with --rebalance NAME|FILE.wasm: the service whose moves to show")
	format := formatFlag(c, "table", "json")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if cmd.Flags().Changed("rebalance") {
			return testRebalance(cmd, f.rebalance.plugin, *service, args, *format)
		}
		if len(args) == 0 {
			return fmt.Errorf("give a plugin: shoal plugin test NAME|FILE.wasm [...] (or --rebalance NAME --service S)")
		}
		req := &shoalv1.TestPluginRequest{}
		if strings.HasSuffix(args[0], ".wasm") || fileExists(args[0]) {
			wasm, err := readModule(args[0])
			if err != nil {
				return err
			}
			req.Wasm = wasm
		} else {
			req.Name = args[0]
		}
		switch {
		case *specFile != "":
			b, err := os.ReadFile(*specFile)
			if err != nil {
				return err
			}
			sp := &shoalv1.ServiceSpec{}
			if err := protojson.Unmarshal(b, sp); err != nil {
				return fmt.Errorf("--service-spec %s: %w", *specFile, err)
			}
			req.Spec = sp
		case len(args) > 1:
			if f.name == "" {
				f.name = "dry-run"
			}
			sp, err := f.spec(args[1:])
			if err != nil {
				return err
			}
			req.Spec = sp
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
		if *format == "json" {
			return printOneJSON(cmd.OutOrStdout(), res.Msg)
		}
		var rows [][]string
		placed := 0
		for _, p := range res.Msg.GetPlacements() {
			node := p.GetNodeHostname()
			if p.GetNodeId() != "" {
				node += " (" + shortID(p.GetNodeId()) + ")"
				placed++
			}
			rows = append(rows, []string{p.GetTask(), node, p.GetReason()})
		}
		if err := table(cmd.OutOrStdout(), []string{"TASK", "NODE", "WHY NOT PLACED"}, rows); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "\n%d of %d tasks placed; the plugin answered in %s. Nothing was changed.\n", placed, len(res.Msg.GetPlacements()), res.Msg.GetDuration())
		return nil
	}
	return c
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
