package containerd

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

func readAll(t *testing.T, path string, opts runtime.LogOptions, done func() bool) string {
	t.Helper()
	ch := make(chan runtime.LogLine, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- readLogs(ctx, path, opts, ch, done); close(ch) }()
	var sb strings.Builder
	for l := range ch {
		if l.Stream != "stdout" {
			t.Errorf("stream %q", l.Stream)
		}
		sb.Write(l.Data)
		sb.WriteByte('|')
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

func TestReadLogsTailAndRotation(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/task.log"
	if err := os.WriteFile(path, []byte("1\n2\n3\n4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	always := func() bool { return true }
	tests := []struct {
		tail int
		want string
	}{{-1, "1|2|3|4|"}, {2, "3|4|"}, {0, ""}, {10, "1|2|3|4|"}}
	for _, tc := range tests {
		if got := readAll(t, path, runtime.LogOptions{Tail: tc.tail}, always); got != tc.want {
			t.Fatalf("tail %d = %q, want %q", tc.tail, got, tc.want)
		}
	}
	if err := rotateIfLarge(path, 4); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Size() != 0 {
		t.Fatalf("not truncated: %d bytes", st.Size())
	}
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("5\npartial")
	f.Close()
	if got := readAll(t, path, runtime.LogOptions{Tail: 3}, always); got != "4|5|partial|" {
		t.Fatalf("after rotation = %q", got)
	}
	if got := readAll(t, path, runtime.LogOptions{Tail: -1, Since: time.Now().Add(time.Hour)}, always); got != "" {
		t.Fatalf("since future = %q", got)
	}
	if err := rotateIfLarge(path, 1<<20); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "5\npartial" {
		t.Fatalf("small file rotated: %q", data)
	}
}

func TestReadLogsFollow(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/task.log"
	os.WriteFile(path, []byte("a\nb"), 0o644)
	var finished atomic.Bool
	go func() {
		time.Sleep(300 * time.Millisecond)
		f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		f.WriteString("c\nd\n")
		f.Close()
		time.Sleep(300 * time.Millisecond)
		rotateIfLarge(path, 1) // rotation while following loses nothing
		f, _ = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		f.WriteString("e\n")
		f.Close()
		time.Sleep(300 * time.Millisecond)
		finished.Store(true)
	}()
	got := readAll(t, path, runtime.LogOptions{Tail: -1, Follow: true}, finished.Load)
	if got != "a|bc|d|e|" {
		t.Fatalf("follow = %q", got)
	}
}
