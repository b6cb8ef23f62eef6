package plugins

import (
	"context"

	"github.com/shoal-project/shoal/sdk"
)

// opRebalance runs shoal_rebalance, the rebalancer kind's entry point.
const opRebalance op = 3

// Rebalance asks rebalancer plugin sha256 which of req's tasks to move.
// Unlike Schedule, the answer is not refused as a whole for a bad move:
// the manager checks every move on its own (it knows more than the
// request says: host-mode ports, the move window) and ignores the invalid
// ones with a counted reason. Call failures (timeout, trap, an error the
// plugin reported, an undecodable answer) are logged, counted and returned
// as a *CallError: the pass then moves nothing.
func (h *Host) Rebalance(ctx context.Context, sha256 string, req *sdk.RebalanceRequest) (*sdk.RebalanceResponse, error) {
	return roundTrip(h, ctx, sha256, opRebalance, req.Marshal(), sdk.UnmarshalRebalanceResponse,
		func(r *sdk.RebalanceResponse) string { return r.Error },
		func(*sdk.RebalanceResponse) error { return nil })
}
