package allocator

import (
	"context"

	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/ipam"
)

// Policy answers one allocation batch: an address per address request and
// a port per port request, in order.
type Policy interface {
	Allocate(ctx context.Context, req *sdk.AllocateRequest) (*sdk.AllocateResponse, error)
}

// PolicyFunc adapts a pure function such as ipam.Allocate to Policy.
type PolicyFunc func(*sdk.AllocateRequest) *sdk.AllocateResponse

// Allocate calls f.
func (f PolicyFunc) Allocate(ctx context.Context, req *sdk.AllocateRequest) (*sdk.AllocateResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return f(req), nil
}

// Native returns the native allocation policy (sdk/policy/ipam).
func Native() Policy { return PolicyFunc(ipam.Allocate) }
