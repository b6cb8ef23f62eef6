// Command evener is the built-in rebalancer as a Wasm guest: the native
// reference policy sdk/policy/evener behind the sdk's shoal_rebalance
// export. Build with scripts/build-plugins.sh.
package main

import (
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/evener"
)

func init() { sdk.RegisterRebalancer(evener.Rebalance) }

func main() {}
