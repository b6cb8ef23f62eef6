package process

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/shoal-project/shoal/runtime"
)

// TestRotationKeepsAnOrderedSuffix: whatever the sizes, reading the rotated
// files back gives the newest records, in order, ending with the last one
// written, and no file grows past the limit (a single over-long record aside).
func TestRotationKeepsAnOrderedSuffix(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir, err := os.MkdirTemp("", "rot")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		maxBytes := int64(rapid.IntRange(64, 4096).Draw(rt, "max"))
		keep := rapid.IntRange(0, 3).Draw(rt, "keep")
		w, err := openLogWriter(dir, maxBytes, keep)
		if err != nil {
			rt.Fatal(err)
		}
		n := rapid.IntRange(1, 300).Draw(rt, "records")
		var written []string
		for i := range n {
			pad := rapid.IntRange(0, 80).Draw(rt, "pad")
			data := fmt.Sprintf("%d %0*d", i, pad, 0)
			stream := "stdout"
			if rapid.Bool().Draw(rt, "stderr") {
				stream = "stderr"
			}
			if err := w.writeRecord(stream, []byte(data)); err != nil {
				rt.Fatal(err)
			}
			written = append(written, stream+":"+data)
		}
		w.Close()
		for k := 0; k <= keep; k++ {
			if fi, err := os.Stat(rotatedName(dir, k)); err == nil && fi.Size() > maxBytes+200 {
				rt.Fatalf("%s is %d bytes, limit %d", rotatedName(dir, k), fi.Size(), maxBytes)
			}
		}
		if _, err := os.Stat(rotatedName(dir, keep+1)); err == nil {
			rt.Fatalf("more than %d old files", keep)
		}
		out := make(chan runtime.LogLine, n+1)
		err = streamLogs(context.Background(), dir, keep, runtime.LogOptions{Tail: -1}, out, func() bool { return true }, time.Millisecond)
		if err != nil {
			rt.Fatal(err)
		}
		close(out)
		var got []string
		for ll := range out {
			got = append(got, ll.Stream+":"+string(ll.Data))
		}
		if len(got) == 0 || len(got) > len(written) {
			rt.Fatalf("read %d of %d records", len(got), len(written))
		}
		suffix := written[len(written)-len(got):]
		for i := range got {
			if got[i] != suffix[i] {
				rt.Fatalf("record %d = %q, want %q", i, got[i], suffix[i])
			}
		}
	})
}
