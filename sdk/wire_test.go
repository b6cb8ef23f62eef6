package sdk

import "testing"

// A large answer is encoded without regrowing its buffer once per few
// placements: the packed placements are appended into room made for them
// at once.
func TestLargeAnswerEncodesInFewAllocations(t *testing.T) {
	placements := make([]int32, 100_000)
	for i := range placements {
		placements[i] = int32(i % 2400)
	}
	resp := &ScheduleResponse{Groups: []GroupResult{{Placements: placements}}}
	allocs := testing.AllocsPerRun(5, func() { resp.Marshal() })
	if allocs > 4 {
		t.Errorf("encoding 100,000 placements took %.0f allocations, want <= 4", allocs)
	}
	got, err := UnmarshalScheduleResponse(resp.Marshal())
	if err != nil || len(got.Groups) != 1 || len(got.Groups[0].Placements) != len(placements) || got.Groups[0].Placements[99_999] != placements[99_999] {
		t.Fatalf("round trip: %v", err)
	}
}
