// Package plugintest runs a plugin's .wasm in a Go test, against a recorded
// cluster state, through the same host code the manager uses (in-process
// mode, so no TestMain hook is needed), and checks the answer with the
// manager's own validation.
//
//	func TestPlacement(t *testing.T) {
//		wasm := plugintest.Build(t, ".")             // or os.ReadFile("x.wasm")
//		p := plugintest.New(t, wasm, plugintest.Scheduler)
//		req := plugintest.ReadScheduleRequest(t, "testdata/cluster.json")
//		resp := p.Schedule(t, req)                   // fails t on any error
//		...assert on resp.Groups[i].Placements...
//	}
//
// It owns nothing of the manager's state. It imports the plugin host, so it
// lives in the manager's module, not the sdk's: a guest's build never links
// it, only a test that uses it requires github.com/shoal-project/shoal.
package plugintest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-project/shoal/plugins"
	"github.com/shoal-project/shoal/sdk"
)

// Kind of plugin under test.
type Kind = plugins.Kind

const (
	Scheduler = plugins.KindScheduler
	Allocator = plugins.KindAllocator
)

// Plugin is a validated, loaded module.
type Plugin struct {
	h   *plugins.Host
	sha string
}

// New validates wasm as kind (the same checks as `shoal plugin install`) and
// loads it. The test fails on any validation error.
func New(t testing.TB, wasm []byte, kind Kind) *Plugin {
	t.Helper()
	h, err := plugins.NewHost(plugins.HostConfig{InProcess: true, CallTimeout: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ctx := context.Background()
	if _, err := h.Validate(ctx, wasm, kind); err != nil {
		t.Fatalf("plugintest: validate: %v", err)
	}
	sha := plugins.Digest(wasm)
	if err := h.Load(ctx, sha, wasm); err != nil {
		t.Fatalf("plugintest: load: %v", err)
	}
	return &Plugin{h: h, sha: sha}
}

// Schedule runs the scheduler on req and returns its answer, which the host
// has validated (lengths, node indexes, readiness, resources, constraints).
// The test fails on a trap, timeout, error answer or invalid answer.
func (p *Plugin) Schedule(t testing.TB, req *sdk.ScheduleRequest) *sdk.ScheduleResponse {
	t.Helper()
	resp, err := p.h.Schedule(context.Background(), p.sha, req)
	if err != nil {
		t.Fatalf("plugintest: schedule: %v", err)
	}
	return resp
}

// Allocate runs the allocator on req, like Schedule.
func (p *Plugin) Allocate(t testing.TB, req *sdk.AllocateRequest) *sdk.AllocateResponse {
	t.Helper()
	resp, err := p.h.Allocate(context.Background(), p.sha, req)
	if err != nil {
		t.Fatalf("plugintest: allocate: %v", err)
	}
	return resp
}

// ReadScheduleRequest reads a recorded cluster state: a ScheduleRequest in
// JSON with the Go field names (Availability "active"/"pause"/"drain", Role
// "worker"/"manager").
func ReadScheduleRequest(t testing.TB, path string) *sdk.ScheduleRequest {
	t.Helper()
	var req sdk.ScheduleRequest
	readJSON(t, path, &req)
	return &req
}

// ReadAllocateRequest reads an AllocateRequest in JSON.
func ReadAllocateRequest(t testing.TB, path string) *sdk.AllocateRequest {
	t.Helper()
	var req sdk.AllocateRequest
	readJSON(t, path, &req)
	return &req
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("plugintest: %s: %v", path, err)
	}
}

// Build compiles the guest package in dir (relative to the test's working
// directory) with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared and returns
// the module.
func Build(t testing.TB, dir string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "plugin.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("plugintest: build %s: %v\n%s", dir, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Placed counts, per node ID, the tasks of a group placed on it; the key ""
// counts unschedulable tasks.
func Placed(req *sdk.ScheduleRequest, g *sdk.GroupResult) map[string]int {
	m := map[string]int{}
	for _, p := range g.Placements {
		if p < 0 || int(p) >= len(req.Nodes) {
			m[""]++
			continue
		}
		m[req.Nodes[p].ID]++
	}
	return m
}
