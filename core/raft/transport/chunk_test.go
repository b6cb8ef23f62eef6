package transport

import (
	"bytes"
	"errors"
	"testing"

	"pgregory.net/rapid"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func TestSplitReassembleProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		size := rapid.IntRange(1, 64).Draw(t, "size")
		n := rapid.IntRange(1, 5).Draw(t, "msgs")
		re := NewReassembler(1 << 20)
		for i := range n {
			data := rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "data")
			chunks := Split(7, data, size)
			for j, c := range chunks {
				got, done, err := re.Add(c)
				if err != nil {
					t.Fatalf("msg %d chunk %d: %v", i, j, err)
				}
				if done != (j == len(chunks)-1) {
					t.Fatalf("done=%v at chunk %d of %d", done, j, len(chunks))
				}
				if done && !bytes.Equal(got, data) {
					t.Fatalf("reassembled %d bytes, want %d", len(got), len(data))
				}
			}
			if re.Pending() {
				t.Fatal("pending after a complete message")
			}
		}
	})
}

func TestReassemblerRejects(t *testing.T) {
	c := func(idx, total uint32, from uint64) *shoalv1.RaftMessageChunk {
		return &shoalv1.RaftMessageChunk{Data: []byte("abcd"), Index: idx, Total: total, From: from}
	}
	tests := []struct {
		name   string
		chunks []*shoalv1.RaftMessageChunk
		want   error
	}{
		{"starts mid-message", []*shoalv1.RaftMessageChunk{c(1, 3, 1)}, ErrChunkOrder},
		{"zero total", []*shoalv1.RaftMessageChunk{c(0, 0, 1)}, ErrChunkOrder},
		{"skips a chunk", []*shoalv1.RaftMessageChunk{c(0, 3, 1), c(2, 3, 1)}, ErrChunkOrder},
		{"repeats a chunk", []*shoalv1.RaftMessageChunk{c(0, 3, 1), c(0, 3, 1)}, ErrChunkOrder},
		{"total changes", []*shoalv1.RaftMessageChunk{c(0, 3, 1), c(1, 4, 1)}, ErrChunkOrder},
		{"sender changes", []*shoalv1.RaftMessageChunk{c(0, 3, 1), c(1, 3, 2)}, ErrChunkOrder},
		{"too large", []*shoalv1.RaftMessageChunk{c(0, 3, 1), c(1, 3, 1), c(2, 3, 1)}, ErrMessageTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			re := NewReassembler(10)
			var err error
			for _, ch := range tt.chunks {
				if _, _, err = re.Add(ch); err != nil {
					break
				}
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzReassembler(f *testing.F) {
	f.Add([]byte{0, 2, 1, 2, 0xff, 1, 2, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		re := NewReassembler(1 << 10)
		for len(b) >= 3 {
			ch := &shoalv1.RaftMessageChunk{Index: uint32(b[0] % 4), Total: uint32(b[1] % 4), From: uint64(b[2] % 2), Data: b[3:min(len(b), 3+int(b[0]))]}
			b = b[3:]
			msg, done, err := re.Add(ch)
			if err != nil {
				re = NewReassembler(1 << 10)
				continue
			}
			if len(msg) > 1<<10 || (done && re.Pending()) {
				t.Fatal("invariant broken")
			}
		}
	})
}
