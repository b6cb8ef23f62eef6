// Package sandboxtest builds, for tests, a plugin sandbox executable without
// the race detector.
//
// A Host re-executes its own binary as the sandbox by default. Under
// `go test -race` that binary is race-instrumented, and wazero's compiler
// runs about 24 times slower in it (BenchmarkCompile/cold: 41 s against
// 1.7 s for the spread module on the 2-core CI machine), which made the
// plugins tests take most of CI. The sandbox serves one request at a time
// on one goroutine, so the race detector finds nothing there that the host
// side (still instrumented, in the test process) would not; tests point
// HostConfig.SandboxCommand at this build instead.
package sandboxtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// sandboxPackage is the main package that only serves as a sandbox.
const sandboxPackage = "github.com/shoal-project/shoal/plugins/sandboxtest/sandbox"

// Build builds the sandbox executable into dir (without -race, whatever the
// test binary was built with) and returns its path. The test's working
// directory must lie inside the shoal module, as `go test` arranges.
func Build(dir string) (string, error) {
	exe := filepath.Join(dir, "shoal-plugin-sandbox")
	cmd := exec.Command("go", "build", "-o", exe, sandboxPackage)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build plugin sandbox: %v\n%s", err, out)
	}
	return exe, nil
}

// Sandbox builds the sandbox executable once per test process, into a
// temporary directory of its own. The zero value is ready to use.
type Sandbox struct {
	once sync.Once
	dir  string
	exe  string
	err  error
}

// Command returns the sandbox executable for HostConfig.SandboxCommand,
// building it on the first call; a failed build fails tb.
func (s *Sandbox) Command(tb testing.TB) string {
	tb.Helper()
	s.once.Do(func() {
		if s.dir, s.err = os.MkdirTemp("", "shoal-sandboxtest"); s.err == nil {
			s.exe, s.err = Build(s.dir)
		}
	})
	if s.err != nil {
		tb.Fatal(s.err)
	}
	return s.exe
}

// Remove deletes the executable; call it at the end of TestMain.
func (s *Sandbox) Remove() {
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}
