// Command spread is the built-in spread scheduler as a Wasm guest: the native
// reference policy sdk/policy/spread behind the ABI v1 exports of the sdk.
// Build with scripts/build-plugins.sh.
package main

import (
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/spread"
)

func init() {
	var s spread.Kept
	sdk.RegisterKeptScheduler(s.Schedule, sdk.TaskIDsUnused())
}

func main() {}
