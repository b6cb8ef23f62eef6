// Guest loop never returns from shoal_schedule.
package main

import "github.com/shoal-project/shoal/sdk"

var n int

func init() {
	sdk.RegisterScheduler(func(*sdk.ScheduleRequest) *sdk.ScheduleResponse {
		for {
			n++
		}
	})
}

func main() {}
