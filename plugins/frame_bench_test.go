package plugins

import (
	"os"
	"testing"
)

// BenchmarkFramePipe is the part of a schedule call that a shared memory
// file would save: one frame of 1.6 MB (a 100,000-task request) written by
// the host and read by the sandbox through a pipe, as supervisor and
// serveSandbox do.
func BenchmarkFramePipe(b *testing.B) {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	payload := make([]byte, 1600<<10)
	b.SetBytes(int64(len(payload)))
	done := make(chan error, 1)
	for b.Loop() {
		go func() {
			_, err := readFrame(r, maxRequestFrame)
			done <- err
		}()
		if err := writeFrame(w, frameCall, payload); err != nil {
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}
