// Guest panic panics inside the policy (recovered by the sdk) after
// printing to stdout.
package main

import (
	"fmt"

	"github.com/shoal-project/shoal/sdk"
)

func init() {
	sdk.RegisterScheduler(func(*sdk.ScheduleRequest) *sdk.ScheduleResponse {
		fmt.Println("hostile guest about to panic")
		panic("hostile panic")
	})
}

func main() {}
