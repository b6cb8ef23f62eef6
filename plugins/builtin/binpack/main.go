// Command binpack is the built-in binpack scheduler as a Wasm guest: the native
// reference policy sdk/policy/binpack behind the ABI v1 exports of the sdk.
// Build with scripts/build-plugins.sh.
package main

import (
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/binpack"
)

func init() {
	var b binpack.Kept
	sdk.RegisterKeptScheduler(b.Schedule, sdk.TaskIDsUnused())
}

func main() {}
