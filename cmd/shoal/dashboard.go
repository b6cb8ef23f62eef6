package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-project/shoal/internal/dashboard"
	"github.com/shoal-project/shoal/web"
)

func newDashboardCmd() *cobra.Command {
	var listen string
	var remote bool
	c := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve the live web view on loopback, forwarding its calls to a manager as the admin",
		Long: `dashboard serves the cluster's live web view at http://127.0.0.1:PORT/ and
forwards the page's API calls to a manager with this CLI's admin identity (the
admin socket of --data-dir, or --host with --tls-dir), as kubectl proxy does:
the browser needs no certificate. Whoever reaches the listener acts as the
admin, so it binds loopback only unless --allow-remote is given.`,
		Args: cobra.NoArgs,
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to serve on (loopback; port 0 picks a free one)")
	c.Flags().BoolVar(&remote, "allow-remote", false, "allow a --listen address that is not loopback (anyone who reaches it is the cluster admin)")
	c.RunE = func(cmd *cobra.Command, _ []string) error {
		hosts, err := dashboard.CheckListen(listen, remote)
		if err != nil {
			return err
		}
		h, err := dashboardHandler(hosts)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return fmt.Errorf("--listen %s: %w", listen, err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "dashboard: http://%s/\n", ln.Addr())
		return serveDashboard(cmd.Context(), ln, h)
	}
	return c
}

// dashboardHandler forwards to the manager the global flags name, with the
// CLI's connection (no call deadline: the view follows streams).
func dashboardHandler(hosts []string) (http.Handler, error) {
	gf.timeout = 0
	cl, err := dial()
	if err != nil {
		return nil, err
	}
	base, err := url.Parse(cl.BaseURL)
	if err != nil {
		return nil, err
	}
	assets, err := web.Assets()
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	return dashboard.Handler(dashboard.Config{
		Assets: assets, Manager: base, Transport: cl.HTTP.Transport, Hosts: hosts, Logger: logger,
	}), nil
}

// serveDashboard serves until ctx ends (Ctrl-C), speaking HTTP/1.1 to
// browsers and unencrypted HTTP/2 to gRPC probes.
func serveDashboard(ctx context.Context, ln net.Listener, h http.Handler) error {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: &p, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
