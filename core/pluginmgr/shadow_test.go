package pluginmgr

import (
	"testing"

	"github.com/shoal-project/shoal/sdk"
)

func TestCompareAnswersCountsTasksPlacedElsewhereAndNotPlaced(t *testing.T) {
	const u = sdk.Unschedulable
	req := func(counts ...int) *sdk.ScheduleRequest {
		r := &sdk.ScheduleRequest{}
		for _, c := range counts {
			r.Groups = append(r.Groups, sdk.TaskGroup{Count: uint32(c)})
		}
		return r
	}
	answer := func(groups ...[]int32) *sdk.ScheduleResponse {
		a := &sdk.ScheduleResponse{}
		for _, g := range groups {
			a.Groups = append(a.Groups, sdk.GroupResult{Placements: g})
		}
		return a
	}
	for _, tc := range []struct {
		name           string
		req            *sdk.ScheduleRequest
		active, shadow *sdk.ScheduleResponse
		want           Difference
	}{
		{"same answer", req(3), answer([]int32{0, 1, 2}), answer([]int32{0, 1, 2}),
			Difference{Tasks: 3, ActiveNodes: 3, ShadowNodes: 3}},
		{"same nodes in another order is no move", req(3), answer([]int32{0, 1, 2}), answer([]int32{2, 0, 1}),
			Difference{Tasks: 3, ActiveNodes: 3, ShadowNodes: 3}},
		{"packed where spread", req(3), answer([]int32{0, 1, 2}), answer([]int32{1, 1, 1}),
			Difference{Tasks: 3, Moved: 2, ActiveNodes: 3, ShadowNodes: 1}},
		{"shadow cannot place", req(2), answer([]int32{0, 1}), answer([]int32{0, u}),
			Difference{Tasks: 2, Unplaced: 1, ActiveNodes: 2, ShadowNodes: 1}},
		{"shadow places what active could not: neither", req(2), answer([]int32{0, u}), answer([]int32{0, 1}),
			Difference{Tasks: 2, ActiveNodes: 1, ShadowNodes: 2}},
		{"groups add up; nodes counted over the pass", req(2, 2), answer([]int32{0, 1}, []int32{0, 1}), answer([]int32{2, 2}, []int32{0, u}),
			Difference{Tasks: 4, Moved: 2, Unplaced: 1, ActiveNodes: 2, ShadowNodes: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CompareAnswers(tc.req, tc.active, tc.shadow); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
