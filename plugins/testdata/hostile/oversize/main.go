// Guest oversize answers with 4 MiB.
package main

import (
	"strings"

	"github.com/shoal-project/shoal/sdk"
)

func init() {
	sdk.RegisterScheduler(func(req *sdk.ScheduleRequest) *sdk.ScheduleResponse {
		return &sdk.ScheduleResponse{Groups: []sdk.GroupResult{{Detail: strings.Repeat("x", 4<<20)}}}
	})
}

func main() {}
