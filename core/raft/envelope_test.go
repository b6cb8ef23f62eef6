package raft

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"
)

func TestEntryEnvelopeRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		origin, id := rapid.Uint64().Draw(t, "origin"), rapid.Uint64().Draw(t, "id")
		payload := rapid.SliceOf(rapid.Byte()).Draw(t, "payload")
		o, i, p, err := decodeEntry(encodeEntry(origin, id, payload))
		if err != nil || o != origin || i != id || !bytes.Equal(p, payload) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func TestSnapshotEnvelopeRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var in snapshotEnvelope
		for i := range rapid.IntRange(0, 5).Draw(t, "n") {
			in.members = append(in.members, Member{RaftID: uint64(i + 1), NodeID: rapid.String().Draw(t, "node"), Addr: rapid.String().Draw(t, "addr")})
		}
		in.removed = rapid.SliceOf(rapid.Uint64()).Draw(t, "removed")
		in.data = rapid.SliceOf(rapid.Byte()).Draw(t, "data")
		out, err := decodeSnapshot(encodeSnapshot(in))
		if err != nil || len(out.members) != len(in.members) || len(out.removed) != len(in.removed) || !bytes.Equal(out.data, in.data) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range in.members {
			if out.members[i] != in.members[i] {
				t.Fatalf("member %d: %+v != %+v", i, out.members[i], in.members[i])
			}
		}
	})
}

func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(encodeSnapshot(snapshotEnvelope{members: []Member{{RaftID: 1, NodeID: "a", Addr: "b"}}, removed: []uint64{3}, data: []byte("x")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		again, err := decodeSnapshot(encodeSnapshot(s))
		if err != nil || !bytes.Equal(again.data, s.data) || len(again.members) != len(s.members) {
			t.Fatal("re-encode mismatch")
		}
	})
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(1, 2, []byte("p")))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, i, p, err := decodeEntry(b)
		if err == nil && !bytes.Equal(encodeEntry(o, i, p), b) {
			t.Fatal("re-encode mismatch")
		}
	})
}
