package scheduler

import (
	"maps"
	"slices"

	"github.com/shoal-project/shoal/sdk"
)

// ShadowTap is told of every live policy call of a pass: the policy whose
// answer is applied (its name, or FallbackName), the request and the
// answer. It runs on the pass's critical path, so it must only hand the
// call off (see ShadowCall). req and resp are the pass's own: the tap
// must not keep them; CloneRequest copies req.
type ShadowTap func(active string, req *sdk.ScheduleRequest, resp *sdk.ScheduleResponse)

// WithShadowTap sets the tap of live policy calls (shadow scheduling).
func WithShadowTap(f ShadowTap) Option {
	return func(s *Scheduler) { s.shadow = f }
}

// CloneRequest deep-copies a request's node table (which the pass goes on
// changing) and groups.
func CloneRequest(req *sdk.ScheduleRequest) *sdk.ScheduleRequest {
	out := &sdk.ScheduleRequest{Nodes: slices.Clone(req.Nodes), Groups: slices.Clone(req.Groups)}
	for i := range out.Nodes {
		out.Nodes[i].ServiceTasks = maps.Clone(out.Nodes[i].ServiceTasks)
	}
	return out
}

// CloneResponse copies an answer's placements.
func CloneResponse(resp *sdk.ScheduleResponse) *sdk.ScheduleResponse {
	out := &sdk.ScheduleResponse{Groups: slices.Clone(resp.Groups)}
	for i := range out.Groups {
		out.Groups[i].Placements = slices.Clone(out.Groups[i].Placements)
	}
	return out
}
