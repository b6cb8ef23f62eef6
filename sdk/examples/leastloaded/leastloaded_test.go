package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"slices"
	"testing"

	"github.com/shoal-project/shoal/sdk"
)

var update = flag.Bool("update", false, "rewrite testdata/want.json from the native answer")

// TestRecordedCluster runs the policy natively against the recorded cluster
// state, checks where the tasks went, and compares the whole answer with
// testdata/want.json. The manager module's plugins/plugintest test builds
// this package to Wasm in a module of its own, runs it in the real plugin
// host and compares its answer with the same file.
func TestRecordedCluster(t *testing.T) {
	b, err := os.ReadFile("testdata/cluster.json")
	if err != nil {
		t.Fatal(err)
	}
	var req sdk.ScheduleRequest
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatal(err)
	}
	resp := schedule(&req)

	// web: 6 x 2 GiB, not on the manager, not on the drained node. n1 has
	// 12 GiB free and n2 4 GiB: n1 takes tasks until it has no more free
	// memory than n2, then they alternate (ties go to more free cpu).
	// Node indexes: n1 0, n2 1, n3 2 (drained), m1 3.
	if got, want := resp.Groups[0].Placements, []int32{0, 0, 0, 0, 0, 1}; !slices.Equal(got, want) {
		t.Fatalf("web placements %v, want %v (five on n1, one on n2)", got, want)
	}
	// batch: 64 GiB fits nowhere, and the reason says why.
	batch := resp.Groups[1]
	if batch.Placements[0] != sdk.Unschedulable {
		t.Fatalf("batch placed: %v", batch.Placements)
	}
	if got, want := batch.Message(), "no suitable node: 1 drained, 3 nodes lack memory"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
	checkGolden(t, resp)
}

func checkGolden(t *testing.T, resp *sdk.ScheduleResponse) {
	t.Helper()
	got, err := json.MarshalIndent(resp, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile("testdata/want.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/want.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("answer differs from testdata/want.json (go test -update rewrites it):\ngot:\n%s", got)
	}
}
