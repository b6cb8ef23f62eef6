package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-project/shoal/core/ca"
	"github.com/shoal-project/shoal/core/node"
	"github.com/shoal-project/shoal/internal/client"
)

type globalFlags struct {
	dataDir string
	host    string
	tlsDir  string
	local   bool
	timeout time.Duration
}

var gf globalFlags

func defaultDataDir() string {
	if d := os.Getenv("SHOAL_DATA_DIR"); d != "" {
		return d
	}
	return "/var/lib/shoal"
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "shoal",
		Short:         "shoal: a container orchestrator with WebAssembly scheduling plugins",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&gf.dataDir, "data-dir", defaultDataDir(), "node data directory (env SHOAL_DATA_DIR)")
	pf.StringVar(&gf.host, "host", os.Getenv("SHOAL_HOST"), "manager address host:port, reached with an admin certificate from --tls-dir (env SHOAL_HOST)")
	pf.StringVar(&gf.tlsDir, "tls-dir", os.Getenv("SHOAL_TLS_DIR"), "directory with an admin certificate (node.crt, node.key, root.crt) for --host (env SHOAL_TLS_DIR)")
	pf.BoolVar(&gf.local, "local", false, "answer reads from the manager you talk to, without asking the leader (may be stale)")
	pf.DurationVar(&gf.timeout, "timeout", 30*time.Second, "give up on a call to the manager after this long (0: never; streams that --follow have no deadline)")
	root.AddCommand(daemonCommands()...)
	root.AddCommand(newJoinTokenCmd(), newNodeCmd(), newClusterCmd(), newNetworkCmd(), newCACmd())
	root.AddCommand(extraCommands()...)
	root.AddCommand(newDashboardCmd())
	return root
}

// dial connects to a manager as the global flags say.
func dial() (*client.Client, error) {
	o := client.Options{DataDir: gf.dataDir, Host: gf.host, LocalRead: gf.local, Timeout: gf.timeout}
	if gf.host != "" {
		if gf.tlsDir == "" {
			gf.tlsDir = filepath.Join(gf.dataDir, "admin")
		}
		cfg, err := adminTLS(gf.tlsDir)
		if err != nil {
			return nil, err
		}
		o.TLS = cfg
	}
	cl, err := client.New(o)
	if errors.Is(err, client.ErrNoManager) {
		return nil, noManagerError(err)
	}
	return cl, err
}

// noManagerError says why a data dir has no admin socket and what to do.
func noManagerError(err error) error {
	if _, lerr := node.ReadLocal(gf.dataDir); lerr == nil {
		return fmt.Errorf("%w: this node is not a manager, or its daemon is not running (run client commands on a manager, or use --host with an admin certificate)", err)
	}
	return fmt.Errorf("%w: no shoal node there (set --data-dir or SHOAL_DATA_DIR to a manager's data dir)", err)
}

func adminTLS(dir string) (*tls.Config, error) {
	cfg, err := ca.LoadClientTLS(dir)
	if err != nil {
		return nil, fmt.Errorf("admin certificate in %s: %w", dir, err)
	}
	return cfg, nil
}

// moduleCallTimeout outlasts the manager's own bounds on loading a Wasm
// module (pluginmgr.ProbeLoadTimeout for install and dry runs, the plugin
// host's two-minute load for activation), so the manager's answer, not the
// CLI's default deadline, says why a module was refused.
const moduleCallTimeout = 3 * time.Minute

// moduleCallContext is the context of a call that loads a module on the
// manager: moduleCallTimeout unless --timeout was given.
func moduleCallContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	if cmd.Flags().Changed("timeout") || gf.timeout == 0 || gf.timeout >= moduleCallTimeout {
		return context.WithCancel(cmd.Context())
	}
	return context.WithTimeout(cmd.Context(), moduleCallTimeout)
}
