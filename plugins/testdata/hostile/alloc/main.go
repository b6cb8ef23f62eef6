// Guest alloc allocates without bound.
package main

import "github.com/shoal-project/shoal/sdk"

var hoard [][]byte

func init() {
	sdk.RegisterScheduler(func(*sdk.ScheduleRequest) *sdk.ScheduleResponse {
		for {
			b := make([]byte, 1<<20)
			b[0] = 1
			hoard = append(hoard, b)
		}
	})
}

func main() {}
