package plugins

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"github.com/shoal-project/shoal/internal/rowstamp"
	"github.com/shoal-project/shoal/sdk"
)

// With stamps that tell which rows changed, the host's delta still turns
// the held table into the new one, and it holds the new table next: the
// same as the full diff, whatever changed (counters, or a row beyond its
// counters, which falls back to the full diff).
func TestPropertyStampedDiffEqualsFullDiff(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(1, 12).Draw(rt, "rows")
		prev := make([]sdk.Node, n)
		for i := range prev {
			prev[i] = sdk.Node{ID: fmt.Sprint("n", i), Hostname: "h", Kinds: []string{"container"},
				TotalNanoCPUs: 8, FreeNanoCPUs: 8, Labels: map[string]string{"zone": "a"}}
			if rapid.Bool().Draw(rt, "tasks") {
				prev[i].TaskCount, prev[i].FreeNanoCPUs = 1, 7
				prev[i].ServiceTasks = map[string]uint32{"s": 1}
			}
		}
		cur := sdk.CloneTable(prev)
		stamps := &rowstamp.Stamps{Source: 3, Version: 9, Layout: 2, Rows: make([]uint64, n)}
		for i := range stamps.Rows {
			stamps.Rows[i] = uint64(rapid.IntRange(2, 5).Draw(rt, "old-stamp"))
		}
		for _, i := range rapid.SliceOfDistinct(rapid.IntRange(0, n-1), rapid.ID[int]).Draw(rt, "changed") {
			c := &cur[i]
			switch rapid.IntRange(0, 2).Draw(rt, "change") {
			case 0:
				c.TaskCount++
				c.FreeNanoCPUs--
				if c.ServiceTasks == nil {
					c.ServiceTasks = map[string]uint32{}
				}
				c.ServiceTasks["t"]++
			case 1:
				c.ServiceTasks = nil
				c.TaskCount, c.FreeNanoCPUs = 0, 8
			case 2:
				c.Ready = !c.Ready // beyond the counters
			}
			stamps.Rows[i] = uint64(rapid.IntRange(6, 9).Draw(rt, "new-stamp"))
		}
		// The held table belongs to the call (diffRows patches it).
		held := &hostTable{nodes: sdk.CloneTable(prev), source: 3, version: 5}
		d, inserted, snap := diffHeld(rowstamp.NewContext(context.Background(), stamps), held, cur)
		got, err := sdk.ApplyDelta(prev, inserted, &d)
		if err != nil {
			rt.Fatal(err)
		}
		if !reflect.DeepEqual(norm(got), norm(cur)) {
			rt.Fatalf("delta applied:\n got %+v\nwant %+v", got, cur)
		}
		if !reflect.DeepEqual(norm(snap), norm(cur)) {
			rt.Fatalf("snapshot:\n got %+v\nwant %+v", snap, cur)
		}
	})
}

// Stamps of another source, or of a table older than the layout, are not
// used.
func TestStampsOfAnotherSourceAreIgnored(t *testing.T) {
	prev := []sdk.Node{{ID: "a", TaskCount: 1}, {ID: "b"}}
	cur := []sdk.Node{{ID: "a", TaskCount: 2}, {ID: "b", TaskCount: 1}}
	// The stamps say only b changed since version 5, which is false for
	// a table held from another source: the full diff must patch a too.
	stamps := &rowstamp.Stamps{Source: 4, Version: 9, Layout: 1, Rows: []uint64{2, 7}}
	d, _, _ := diffHeld(rowstamp.NewContext(context.Background(), stamps), &hostTable{nodes: prev, source: 3, version: 5}, cur)
	if len(d.Patches) != 2 {
		t.Fatalf("patches %+v, want both rows", d.Patches)
	}
	d, _, _ = diffHeld(rowstamp.NewContext(context.Background(), stamps), &hostTable{nodes: prev, source: 4, version: 5}, cur)
	if len(d.Patches) != 1 || d.Patches[0].Index != 1 {
		t.Fatalf("patches %+v, want row 1 alone (the stamps are trusted)", d.Patches)
	}
}

// norm copies a table with empty task-count maps as nil (the wire does not
// tell them apart).
func norm(t []sdk.Node) []sdk.Node {
	out := sdk.CloneTable(t)
	for i := range out {
		if len(out[i].ServiceTasks) == 0 {
			out[i].ServiceTasks = nil
		}
	}
	return out
}
