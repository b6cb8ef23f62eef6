package logfile

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/shoal-project/shoal/runtime"
)

// readAllRecords reads a whole set back without following.
func readAllRecords(t interface{ Fatal(...any) }, set Set) []runtime.LogLine {
	out := make(chan runtime.LogLine, 1<<16)
	if err := Stream(context.Background(), set, runtime.LogOptions{Tail: -1}, out, func() bool { return true }, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	close(out)
	var got []runtime.LogLine
	for ll := range out {
		got = append(got, ll)
	}
	return got
}

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
		set := Set{Dir: dir, Name: "output.log", Keep: rapid.IntRange(0, 3).Draw(rt, "keep")}
		w, err := OpenWriter(set, maxBytes, nil)
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
			if err := w.WriteRecord(stream, []byte(data)); err != nil {
				rt.Fatal(err)
			}
			written = append(written, stream+":"+data)
		}
		w.Close()
		for k := 0; k <= set.Keep; k++ {
			if fi, err := os.Stat(set.Path(k)); err == nil && fi.Size() > maxBytes+200 {
				rt.Fatalf("%s is %d bytes, limit %d", set.Path(k), fi.Size(), maxBytes)
			}
		}
		if _, err := os.Stat(set.Path(set.Keep + 1)); err == nil {
			rt.Fatalf("more than %d old files", set.Keep)
		}
		var got []string
		for _, ll := range readAllRecords(rt, set) {
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

func TestLinesSplitting(t *testing.T) {
	long := strings.Repeat("x", MaxLineBytes)
	tests := []struct {
		name   string
		writes []string
		flush  bool
		want   []string
	}{
		{"one line", []string{"a\n"}, false, []string{"a"}},
		{"several lines in one write", []string{"a\nb\n\nc\n"}, false, []string{"a", "b", "", "c"}},
		{"line across writes", []string{"he", "ll", "o\nwor", "ld\n"}, false, []string{"hello", "world"}},
		{"partial held", []string{"a\npart"}, false, []string{"a"}},
		{"partial flushed", []string{"a\npart"}, true, []string{"a", "part"}},
		{"flush of nothing", []string{"a\n"}, true, []string{"a"}},
		{"exactly max is one record", []string{long + "\n"}, false, []string{long}},
		{"max plus one is cut", []string{long + "y\n"}, false, []string{long, "y"}},
		{"long partial cut before its newline", []string{long, "zz"}, false, []string{long}},
		{"long line across writes", []string{long[:100], long[100:] + "yy", "z\n"}, false, []string{long, "yyz"}},
		{"two max pieces", []string{long + long + "\n"}, false, []string{long, long}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := Set{Dir: t.TempDir(), Name: "out.log"}
			w, err := OpenWriter(set, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			l := w.Lines("stderr")
			for _, s := range tc.writes {
				if n, err := l.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if tc.flush {
				if err := l.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			w.Close()
			var got []string
			for _, ll := range readAllRecords(t, set) {
				if ll.Stream != "stderr" {
					t.Fatalf("stream %q", ll.Stream)
				}
				got = append(got, string(ll.Data))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("records = %q, want %q", short(got), short(tc.want))
			}
		})
	}
}

func short(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		if len(s) > 20 {
			s = fmt.Sprintf("%s...(%d bytes)", s[:10], len(s))
		}
		out[i] = s
	}
	return out
}

func TestCopyLinesWritesFinalPartialLine(t *testing.T) {
	set := Set{Dir: t.TempDir(), Name: "out.log"}
	w, err := OpenWriter(set, 0, func() time.Time { return time.Unix(100, 5) })
	if err != nil {
		t.Fatal(err)
	}
	if err := w.CopyLines("stdout", strings.NewReader("one\ntwo\nthree")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got := readAllRecords(t, set)
	if len(got) != 3 || string(got[2].Data) != "three" || !got[0].Time.Equal(time.Unix(100, 5)) {
		t.Fatalf("records = %+v", got)
	}
}
