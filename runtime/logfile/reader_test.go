package logfile

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

func TestStreamTailAndSince(t *testing.T) {
	set := Set{Dir: t.TempDir(), Name: "task.log", Keep: 2}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var i int
	w, err := OpenWriter(set, 200, func() time.Time { i++; return base.Add(time.Duration(i) * time.Second) })
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 6; n++ { // ~52-byte records: rotates every few
		if err := w.WriteRecord("stdout", []byte(strconv.Itoa(n))); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	tests := []struct {
		name string
		opts runtime.LogOptions
		want string
	}{
		{"all", runtime.LogOptions{Tail: -1}, "[1 2 3 4 5 6]"},
		{"tail 2", runtime.LogOptions{Tail: 2}, "[5 6]"},
		{"tail 0", runtime.LogOptions{Tail: 0}, "[]"},
		{"tail more than there is", runtime.LogOptions{Tail: 100}, "[1 2 3 4 5 6]"},
		{"since", runtime.LogOptions{Tail: -1, Since: base.Add(4 * time.Second)}, "[4 5 6]"},
		{"since and tail", runtime.LogOptions{Tail: 1, Since: base.Add(4 * time.Second)}, "[6]"},
		{"since future", runtime.LogOptions{Tail: -1, Since: base.Add(time.Hour)}, "[]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := make(chan runtime.LogLine, 100)
			if err := Stream(context.Background(), set, tc.opts, out, nil, time.Millisecond); err != nil {
				t.Fatal(err)
			}
			close(out)
			got := []string{}
			for ll := range out {
				got = append(got, string(ll.Data))
			}
			if fmt.Sprint(got) != tc.want {
				t.Fatalf("got %v, want %s", got, tc.want)
			}
		})
	}
}

func TestStreamMissingDir(t *testing.T) {
	set := Set{Dir: t.TempDir() + "/gone", Name: "task.log"}
	err := Stream(context.Background(), set, runtime.LogOptions{Tail: -1}, make(chan runtime.LogLine), nil, time.Millisecond)
	if err != runtime.ErrNotFound {
		t.Fatalf("err = %v", err)
	}
}

// TestFollowAcrossManyRotations: a writer that rotates a tiny file many times
// between two polls of the follower loses nothing to it, as long as the files
// are kept; the follower sees every record once, in order.
func TestFollowAcrossManyRotations(t *testing.T) {
	for _, tc := range []struct {
		name     string
		total    int
		keep     int // enough for nothing to be dropped
		maxBytes int64
		poll     time.Duration
	}{
		{"rotation every record, fast poll", 150, 151, 1, time.Millisecond},
		{"rotation every few records, slow poll", 2000, 500, 300, 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			total := tc.total
			set := Set{Dir: t.TempDir(), Name: "task.log", Keep: tc.keep}
			w, err := OpenWriter(set, tc.maxBytes, nil)
			if err != nil {
				t.Fatal(err)
			}
			finished := writeNumbered(t, w, "stdout", total, 100)
			out, errc := followAll(t, set, finished, tc.poll)
			next := 0
			for ll := range out {
				if got := string(ll.Data); got != strconv.Itoa(next) {
					t.Fatalf("record %d = %q", next, got)
				}
				next++
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if next != total {
				t.Fatalf("followed %d of %d records", next, total)
			}
		})
	}
}

// TestFollowWithDroppedFilesStaysInOrder: when the follower falls behind by
// more than the kept files, records are lost but never reordered or repeated,
// and the last record always arrives.
func TestFollowWithDroppedFilesStaysInOrder(t *testing.T) {
	const total = 3000
	set := Set{Dir: t.TempDir(), Name: "task.log", Keep: 1}
	w, err := OpenWriter(set, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	finished := writeNumbered(t, w, "stderr", total, 0)
	out, errc := followAll(t, set, finished, time.Millisecond)
	last := -1
	for ll := range out {
		n, err := strconv.Atoi(string(ll.Data))
		if err != nil || n <= last {
			t.Fatalf("record %q after %d", ll.Data, last)
		}
		last = n
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if last != total-1 {
		t.Fatalf("last record %d, want %d", last, total-1)
	}
}

// TestFollowEndsWhenDirRemoved: a follower of a log whose directory goes away
// (the task was removed) returns nil.
func TestFollowEndsWhenDirRemoved(t *testing.T) {
	set := Set{Dir: t.TempDir() + "/task", Name: "task.log"}
	if err := os.Mkdir(set.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		os.RemoveAll(set.Dir)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := Stream(ctx, set, runtime.LogOptions{Tail: -1, Follow: true}, make(chan runtime.LogLine), func() bool { return false }, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
}

// writeNumbered writes records "0" to "total-1" on stream from a goroutine,
// pausing a millisecond every pauseEvery records (0: never), then closes w;
// the returned flag is set once it is done.
func writeNumbered(t *testing.T, w *Writer, stream string, total, pauseEvery int) *atomic.Bool {
	finished := new(atomic.Bool)
	go func() {
		defer finished.Store(true)
		defer w.Close()
		for i := range total {
			if err := w.WriteRecord(stream, []byte(strconv.Itoa(i))); err != nil {
				t.Error(err)
				return
			}
			if pauseEvery > 0 && i%pauseEvery == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	return finished
}

// followAll follows set from its first record until finished is set and
// everything was read (or 60 s pass); out closes when Stream returns, with
// its error on errc.
func followAll(t *testing.T, set Set, finished *atomic.Bool, poll time.Duration) (<-chan runtime.LogLine, <-chan error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	out := make(chan runtime.LogLine, 16)
	errc := make(chan error, 1)
	go func() {
		errc <- Stream(ctx, set, runtime.LogOptions{Tail: -1, Follow: true}, out, finished.Load, poll)
		close(out)
	}()
	return out, errc
}
