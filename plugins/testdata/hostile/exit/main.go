// Guest exit calls os.Exit in the middle of a call: a trap the sdk cannot
// recover.
package main

import (
	"os"

	"github.com/shoal-project/shoal/sdk"
)

func init() {
	sdk.RegisterScheduler(func(*sdk.ScheduleRequest) *sdk.ScheduleResponse {
		os.Exit(3)
		return nil
	})
}

func main() {}
