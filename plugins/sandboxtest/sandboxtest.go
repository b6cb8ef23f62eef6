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
	"os/exec"
	"path/filepath"
	"sync"
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

// Once builds the sandbox the first time it is called and returns the same
// path (or error) afterwards; dir is used on the first call only.
type Once struct {
	once sync.Once
	exe  string
	err  error
}

// Get returns the sandbox executable, building it into dir on the first call.
func (o *Once) Get(dir string) (string, error) {
	o.once.Do(func() { o.exe, o.err = Build(dir) })
	return o.exe, o.err
}
