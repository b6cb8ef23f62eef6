package containerd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/shoal-project/shoal/runtime"
)

// Integration tests need root and a containerd started by scripts/ci-services.sh
// (which also runs the registry holding 127.0.0.1:5000/busybox:latest).

const testTimeout = 90 * time.Second

// TestMain: the shims run this test binary as the task logger (the backend passes
// its own executable).
func TestMain(m *testing.M) {
	MaybeRunLogger()
	os.Exit(m.Run())
}

func testRegistry() string {
	if r := os.Getenv("SHOAL_TEST_REGISTRY"); r != "" {
		return r
	}
	return "127.0.0.1:5000"
}

func busybox() string { return testRegistry() + "/busybox:latest" }

func needContainerd(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("SHOAL_CONTAINERD_ADDRESS")
	if addr == "" {
		t.Skip("SHOAL_CONTAINERD_ADDRESS unset: start services with scripts/ci-services.sh and source $SHOAL_CI_DIR/env (default /tmp/shoal-ci/env)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("containerd integration tests need root (SHOAL_CONTAINERD_ADDRESS is set)")
	}
	return addr
}

func testNamespace(t testing.TB) string {
	name := strings.ToLower(t.Name())
	name = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return '-'
	}, name)
	name = strings.Trim(name, "-")
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("shoaltest-%d-%s", time.Now().UnixNano()%1_000_000, strings.Trim(name, "-"))
}

type testEnv struct {
	t        testing.TB
	addr     string
	ns       string
	stateDir string
	cfg      Config
}

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	addr := needContainerd(t)
	ns := testNamespace(t)
	e := &testEnv{t: t, addr: addr, ns: ns, stateDir: t.TempDir()}
	e.cfg = Config{
		Address:            addr,
		Namespace:          ns,
		StateDir:           e.stateDir,
		InsecureRegistries: []string{testRegistry(), "127.0.0.1:5999"},
	}
	if err := e.cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.cleanup)
	return e
}

func (e *testEnv) backend() *Backend {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	b, err := New(ctx, e.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { b.Close() })
	return b
}

// cleanup removes whatever a failed test left in its namespace, and the bridge.
func (e *testEnv) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	b, err := New(ctx, e.cfg, nil)
	if err != nil {
		return
	}
	defer b.Close()
	ids, _ := b.List(ctx)
	for _, id := range ids {
		c, err := b.Controller(&runtime.TaskSpec{TaskID: id, Kind: runtime.KindContainer})
		if err == nil {
			_ = c.Remove(ctx)
		}
	}
	// The bridge, its NAT rules and the address state; forcibly when Teardown fails.
	if err := b.Teardown(ctx); err != nil {
		e.t.Logf("teardown of %s: %v", e.ns, err)
		_ = removeRules(ctx, execIptables, e.cfg.BridgeName)
	}
	nctx := namespaces.WithNamespace(ctx, e.ns)
	if imgs, err := b.client.ImageService().List(nctx); err == nil {
		for _, im := range imgs {
			_ = b.client.ImageService().Delete(nctx, im.Name, images.SynchronousDelete())
		}
	}
	if err := b.client.NamespaceService().Delete(nctx, e.ns); err != nil {
		e.t.Logf("namespace %s left behind: %v", e.ns, err)
	}
	_ = ip(ctx, "link", "delete", e.cfg.BridgeName)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// run prepares and starts a task and returns its controller.
func run(t testing.TB, b *Backend, spec *runtime.TaskSpec) runtime.Controller {
	t.Helper()
	ctx := ctxT(t)
	c, err := b.Controller(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Prepare(ctx); err != nil {
		t.Fatalf("prepare %s: %v", spec.TaskID, err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatalf("start %s: %v", spec.TaskID, err)
	}
	return c
}

func remove(t testing.TB, c runtime.Controller) {
	t.Helper()
	ctx := ctxT(t)
	if err := c.Stop(ctx, time.Second); err != nil {
		t.Errorf("stop: %v", err)
	}
	if err := c.Remove(ctx); err != nil {
		t.Errorf("remove: %v", err)
	}
}

func spec(id string, cmd ...string) *runtime.TaskSpec {
	return &runtime.TaskSpec{
		TaskID: id, ServiceID: "svc1", ServiceName: "web", NodeID: "node1", Slot: 1,
		Kind: runtime.KindContainer, Image: busybox(), Command: cmd,
	}
}

// httpGet polls url until it answers 200 or the deadline passes.
func httpGet(t testing.TB, url string) string {
	t.Helper()
	cl := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		resp, err := cl.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(body)
			}
			lastErr = fmt.Errorf("status %s", resp.Status)
		} else {
			lastErr = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, lastErr)
	return ""
}

func collectLogs(t testing.TB, c runtime.Controller, opts runtime.LogOptions) string {
	t.Helper()
	ch := make(chan runtime.LogLine, 1024)
	errc := make(chan error, 1)
	go func() { errc <- c.Logs(ctxT(t), opts, ch); close(ch) }()
	var sb strings.Builder
	for l := range ch {
		sb.Write(l.Data)
		sb.WriteByte('\n')
	}
	if err := <-errc; err != nil {
		t.Fatalf("logs: %v", err)
	}
	return sb.String()
}

func collectLines(t testing.TB, c runtime.Controller, opts runtime.LogOptions) []runtime.LogLine {
	t.Helper()
	ch := make(chan runtime.LogLine, 1024)
	errc := make(chan error, 1)
	go func() { errc <- c.Logs(ctxT(t), opts, ch); close(ch) }()
	var lines []runtime.LogLine
	for l := range ch {
		lines = append(lines, l)
	}
	if err := <-errc; err != nil {
		t.Fatalf("logs: %v", err)
	}
	return lines
}

// splitStreams returns the data of the stdout and of the stderr lines, in
// order; a line of any other stream fails the test.
func splitStreams(t testing.TB, lines []runtime.LogLine) (outs, errs []string) {
	t.Helper()
	for _, l := range lines {
		switch l.Stream {
		case "stdout":
			outs = append(outs, string(l.Data))
		case "stderr":
			errs = append(errs, string(l.Data))
		default:
			t.Fatalf("stream %q", l.Stream)
		}
	}
	return outs, errs
}
