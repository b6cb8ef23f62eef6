package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/shoal-project/shoal/internal/testenv"
)

// browserTimeout bounds the browser script (it only bounds a failure: the
// normal run takes seconds).
const browserTimeout = 5 * time.Minute

var dashboardURL = regexp.MustCompile(`dashboard: (http://127\.0\.0\.1:\d+/)`)

// browserTools returns node, chromium and the web view's directory, or ends
// the test through testenv.Missing (a failure under CI) when one is missing.
func browserTools(t *testing.T) (node, chromium, webDir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(t, "node not found: the browser test runs web/test/dashboard.mjs (scripts/install-deps.sh installs nodejs)")
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		testenv.Missing(t, "chromium: %v (scripts/install-deps.sh installs Debian's chromium)", err)
	}
	webDir, err = filepath.Abs("../web")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(webDir, "node_modules", "playwright-core")); err != nil {
		testenv.Missing(t, "web/node_modules/playwright-core: %v (run `npm ci` in web/, as scripts/test.sh does)", err)
	}
	return node, chromium, webDir
}

// startDashboard runs `shoal dashboard` with the global flags given (how to
// reach a manager) on a free loopback port and returns its URL.
func startDashboard(t *testing.T, c *cluster, name string, global ...string) string {
	t.Helper()
	p := startProc(t, c.base, name, append(global, "dashboard", "--listen", "127.0.0.1:0")...)
	var url string
	eventually(t, startTimeout, "shoal dashboard prints its URL", func() error {
		if !p.running() {
			return errors.New("shoal dashboard exited:\n" + p.log())
		}
		got := dashboardURL.FindStringSubmatch(p.log())
		if got == nil {
			return errors.New("no URL yet")
		}
		url = got[1]
		return nil
	})
	return url
}

// checkDashboardHealth: a stock gRPC client with no certificate (a probe)
// gets the manager's health through the dashboard (h2c on loopback).
func checkDashboardHealth(t *testing.T, url string) {
	t.Helper()
	cc, err := grpc.NewClient(strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	res, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health through the dashboard: %v, %v", res, err)
	}
}

// TestDashboardInABrowser drives chromium (Playwright) against `shoal
// dashboard` on a manager and a worker: the nodes page lists both; a service
// created with the CLI is on the services page within 2 s without a reload;
// scaling it from the page changes `shoal service ls`; a task killed on the
// worker shows its new state live. web/test/dashboard.mjs holds the steps.
// A gRPC health probe gets through the dashboard too, one that reaches the
// manager over the admin socket and one over TLS with --host.
func TestDashboardInABrowser(t *testing.T) {
	node, chromium, webDir := browserTools(t)
	var marks []string
	c := plNewCluster(t, &marks)
	m1 := c.init("m1", "--heartbeat-period", plHeartbeat.String())
	plJoinWorker(t, c, "w1", m1)
	mark := plMark(t, "webtest")
	marks = append(marks, mark)
	url := startDashboard(t, c, "dashboard", "--data-dir", m1.dir)
	checkDashboardHealth(t, url)
	// Over TLS with the admin certificate instead of the admin socket.
	checkDashboardHealth(t, startDashboard(t, c, "dashboard-tls", "--host", m1.addr, "--tls-dir", filepath.Join(m1.dir, "admin")))

	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "test/dashboard.mjs")
	cmd.Dir = webDir
	cmd.Env = append(os.Environ(),
		"DASHBOARD_URL="+url, "SHOAL_BIN="+shoalBin, "SHOAL_DATA_DIR="+m1.dir,
		"SHOAL_NODES=m1,w1", "SHOAL_WORKER=w1", "SHOAL_MARK="+mark, "CHROMIUM="+chromium)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		t.Log(l)
	}
	if err != nil {
		t.Fatalf("web/test/dashboard.mjs failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
	}
	t.Logf("browser checks passed in %s", time.Since(start).Round(time.Millisecond))
}

// TestDashboardBadInput: `shoal dashboard` refuses, on stderr with a non-zero
// exit and before it serves anything, an address anyone could reach and a
// data dir with no manager.
func TestDashboardBadInput(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"not loopback", []string{"dashboard", "--listen", "0.0.0.0:0"}, "not a loopback address"},
		{"every address even when allowed", []string{"dashboard", "--listen", ":0", "--allow-remote"}, "not every address"},
		{"no port", []string{"dashboard", "--listen", "127.0.0.1"}, "use host:port"},
		{"no manager", []string{"--data-dir", empty, "dashboard", "--listen", "127.0.0.1:0"}, "no manager admin socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.args...)
			if r.Code == 0 || !strings.Contains(r.Stderr, tt.want) || r.Stdout != "" {
				t.Errorf("shoal %s: want a failure saying %q and nothing on stdout, got\n%s", strings.Join(tt.args, " "), tt.want, r)
			}
		})
	}
}
