package plugins_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/shoal-project/shoal/plugins"
	"github.com/shoal-project/shoal/plugins/sandboxtest"
)

var guestDir string

func TestMain(m *testing.M) {
	plugins.MaybeRunSandbox()
	dir, err := os.MkdirTemp("", "shoal-plugins-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	guestDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	sandbox.Remove()
	os.Exit(code)
}

var (
	buildOnce sync.Once
	built     map[string][]byte
	buildErr  error
)

// guest returns plugins/testdata/hostile/NAME built for wasip1. The first
// call builds every hostile guest, two at a time.
func guest(tb testing.TB, name string) []byte {
	tb.Helper()
	buildOnce.Do(func() { built, buildErr = buildGuests() })
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	b, ok := built[name]
	if !ok {
		tb.Fatalf("no hostile guest %q", name)
	}
	return b
}

func buildGuests() (map[string][]byte, error) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	entries, err := os.ReadDir(filepath.Join(root, "plugins", "testdata", "hostile"))
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	var firstErr error
	for _, e := range entries {
		name := e.Name()
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			path := filepath.Join(guestDir, name+".wasm")
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", path, "./plugins/testdata/hostile/"+name)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
			b, err := cmd.CombinedOutput()
			if err == nil {
				b, err = os.ReadFile(path)
			} else {
				err = fmt.Errorf("build guest %s: %v\n%s", name, err, b)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			out[name] = b
		}()
	}
	wg.Wait()
	return out, firstErr
}

// cacheDir is shared by all hosts of the run so modules compile once.
func cacheDir() string { return filepath.Join(guestDir, "cache") }

// sandbox is the sandbox executable built without -race (see sandboxtest):
// the hosts of these tests run it unless a test asks for the test binary.
var sandbox sandboxtest.Sandbox
