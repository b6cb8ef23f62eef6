package scheduler

import (
	"context"
	"errors"
	"fmt"

	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/binpack"
	"github.com/shoal-project/shoal/sdk/policy/spread"
)

// Names of the native policies, always available.
const (
	PolicySpread  = "spread"
	PolicyBinpack = "binpack"
	// FallbackName is recorded in Task.scheduler when the native fallback
	// placed a task because the chosen policy failed.
	FallbackName = "native"
)

// ErrUnknownPolicy is returned (wrapped) by a PolicySource for a name it
// does not know.
var ErrUnknownPolicy = errors.New("scheduler: unknown policy")

// Policy places one batch: one node index (or sdk.Unschedulable) per task.
type Policy interface {
	Schedule(ctx context.Context, req *sdk.ScheduleRequest) (*sdk.ScheduleResponse, error)
}

// PolicySource resolves a policy name (a service's scheduler or the
// cluster default) to a Policy. The Wasm plugin host is one.
type PolicySource interface {
	Policy(name string) (Policy, error)
}

// PolicyFunc adapts a pure function such as spread.Schedule to Policy.
type PolicyFunc func(*sdk.ScheduleRequest) *sdk.ScheduleResponse

// Schedule calls f.
func (f PolicyFunc) Schedule(ctx context.Context, req *sdk.ScheduleRequest) (*sdk.ScheduleResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return f(req), nil
}

// Native returns the native policy of that name ("spread", "binpack").
func Native(name string) (Policy, bool) {
	switch name {
	case PolicySpread:
		return PolicyFunc(spread.Schedule), true
	case PolicyBinpack:
		return PolicyFunc(binpack.Schedule), true
	}
	return nil, false
}

// NativeSource is the PolicySource of the native policies only.
type NativeSource struct{}

// Policy returns the native policy of that name.
func (NativeSource) Policy(name string) (Policy, error) {
	if p, ok := Native(name); ok {
		return p, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownPolicy, name)
}
