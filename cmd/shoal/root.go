package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

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
	pf.StringVar(&gf.tlsDir, "tls-dir", os.Getenv("SHOAL_TLS_DIR"), "directory with admin cert.pem, key.pem and ca.pem for --host (env SHOAL_TLS_DIR)")
	pf.BoolVar(&gf.local, "local", false, "answer reads from the manager you talk to, without asking the leader (may be stale)")
	pf.DurationVar(&gf.timeout, "timeout", 30*time.Second, "give up on a call to the manager after this long (0: never; streams that --follow have no deadline)")
	root.AddCommand(daemonCommands()...)
	root.AddCommand(newJoinTokenCmd(), newNodeCmd(), newClusterCmd(), newNetworkCmd())
	root.AddCommand(extraCommands()...)
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
	return client.New(o)
}

func adminTLS(dir string) (*tls.Config, error) {
	cfg, err := client.LoadAdminTLS(dir)
	if err != nil {
		return nil, fmt.Errorf("admin certificate in %s: %w", dir, err)
	}
	return cfg, nil
}
