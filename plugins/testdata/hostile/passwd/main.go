// Guest passwd tries to read host files and reports what happened in its
// error answer.
package main

import (
	"os"

	"github.com/shoal-project/shoal/sdk"
)

func init() {
	sdk.RegisterScheduler(func(req *sdk.ScheduleRequest) *sdk.ScheduleResponse {
		b, err := os.ReadFile("/etc/passwd")
		if err == nil {
			return &sdk.ScheduleResponse{Error: "LEAKED: " + string(b)}
		}
		_, derr := os.ReadDir("/")
		return &sdk.ScheduleResponse{Error: "denied: " + err.Error() + "; readdir: " + errString(derr) + "; HOME=" + os.Getenv("HOME")}
	})
}

func errString(err error) string {
	if err == nil {
		return "LEAKED"
	}
	return err.Error()
}

func main() {}
