// Package dashboard is what `shoal dashboard` serves on loopback: the web
// view's assets, and a reverse proxy that forwards the view's Connect and
// gRPC-web calls (and gRPC health and reflection, for probes) to a manager
// over the CLI's own connection, so the browser needs neither the cluster
// CA nor a client certificate.
//
// Since whoever reaches the listener acts as the cluster admin, the handler
// refuses requests whose Host is not the listener's (a DNS-rebinding page
// names its own host) and cross-origin requests (another site's page).
package dashboard

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"slices"
	"strings"
)

// ErrNotLoopback is returned by CheckListen for an address that is not on
// loopback when remote listening was not asked for.
var ErrNotLoopback = errors.New("not a loopback address")

// proxied are the path prefixes forwarded to the manager: the user API, and
// health and reflection for probes. Nothing else (the Raft, CA and dispatcher
// services) is reachable through the dashboard.
var proxied = []string{
	"/shoal.v1.ControlService/",
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}

// Config says what the handler serves and where it forwards.
type Config struct {
	// Assets is the built web view (index.html at its root).
	Assets fs.FS
	// Manager is the base URL of the manager's API ("https://host:port", or
	// "http://shoal" over the admin socket); Transport reaches it with the
	// admin identity.
	Manager   *url.URL
	Transport http.RoundTripper
	// Hosts are the host names (without port) a request's Host may name
	// besides loopback ones: the listener's host when it is not loopback.
	Hosts  []string
	Logger *slog.Logger
}

// Handler serves the view and forwards API calls as c says.
func Handler(c Config) http.Handler {
	proxy := newProxy(c)
	files := http.FileServerFS(c.Assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkRequest(r, c.Hosts); err != nil {
			c.Logger.Warn("dashboard: request refused", "remote", r.RemoteAddr, "host", r.Host, "err", err)
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		if isProxied(r.URL.Path) {
			proxy.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "the dashboard serves only GET outside the API", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// newProxy forwards to the manager over c.Transport.
func newProxy(c Config) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(c.Manager)
			r.Out.Host = c.Manager.Host
			// The manager learns nothing from the browser's headers.
			r.Out.Header.Del("Cookie")
			r.Out.Header.Del("Origin")
		},
		Transport:     c.Transport,
		FlushInterval: -1, // server streams (WatchEvents, logs --follow) flow as they come
		ErrorLog:      slog.NewLogLogger(c.Logger.Handler(), slog.LevelDebug),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				return // the page went away (a closed stream)
			}
			c.Logger.Warn("dashboard: manager not reached", "path", r.URL.Path, "err", err)
			// Connect clients read 502 as Unavailable.
			http.Error(w, "dashboard: manager not reached: "+err.Error(), http.StatusBadGateway)
		},
	}
}

// isProxied: a clean path (no "..") under one of the proxied prefixes.
func isProxied(p string) bool {
	if path.Clean(p) != p {
		return false
	}
	for _, pre := range proxied {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// checkRequest refuses a Host the listener does not answer to and a
// cross-origin request (Origin set to another scheme, host or port).
func checkRequest(r *http.Request, hosts []string) error {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if !isLoopbackName(host) && !slices.Contains(hosts, host) {
		return fmt.Errorf("host %q: the dashboard answers only to loopback (open it as http://127.0.0.1:PORT)", r.Host)
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
		return fmt.Errorf("origin %q: cross-origin requests are refused", o)
	}
	return nil
}

func isLoopbackName(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// CheckListen refuses an address that is not on loopback unless remote is
// set, and returns the host names a request may name for it (non-loopback
// only).
func CheckListen(addr string, remote bool) ([]string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: %w (use host:port, e.g. 127.0.0.1:8080)", addr, err)
	}
	if isLoopbackName(host) {
		return nil, nil
	}
	if !remote {
		return nil, fmt.Errorf("--listen %q: %w: whoever reaches the dashboard acts as the cluster admin; use 127.0.0.1, or add --allow-remote if you must", addr, ErrNotLoopback)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return nil, fmt.Errorf("--listen %q: name the one address or host name to serve on, not every address", addr)
	}
	return []string{host}, nil
}
