// Guest loopinit never finishes initialising.
package main

import "github.com/shoal-project/shoal/sdk"

var n int

func init() {
	for {
		n++
	}
}

func main() { sdk.RegisterScheduler(nil) }
