// Command sandbox is the plugin sandbox process that tests run instead of
// their own (race-instrumented) binary; see package sandboxtest.
package main

import (
	"fmt"
	"os"

	"github.com/shoal-project/shoal/plugins"
)

func main() {
	plugins.MaybeRunSandbox()
	fmt.Fprintf(os.Stderr, "this is a plugin sandbox for tests; a Host runs it with %s=1\n", plugins.SandboxEnv)
	os.Exit(2)
}
