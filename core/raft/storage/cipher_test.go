package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/shoal-project/shoal/core/autolock"
)

// With a cipher, neither the log nor the snapshot leaves plain text in the
// files, and they load back; without one the same writes do (so the check
// can fail), and a sealed file does not open without its cipher.
func TestCipherSealsLogAndSnapshot(t *testing.T) {
	const marker = "marker-9f8e7d"
	c, err := autolock.NewCipher(bytes.Repeat([]byte{4}, autolock.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	write := func(path string, opts ...Option) {
		s, err := Open(path, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Append(hs(1, 2), []*pb.Entry{ent(1, 1, marker+"-entry-1"), ent(2, 1, marker+"-entry-2")}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateSnapshot(1, &pb.ConfState{Voters: []uint64{1}}, []byte(marker+"-snapshot")); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	sealed, plain := filepath.Join(dir, "sealed.db"), filepath.Join(dir, "plain.db")
	write(sealed, WithCipher(c))
	write(plain)
	for path, want := range map[string]bool{sealed: false, plain: true} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		log, err := os.ReadFile(walPath(path))
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(log, []byte(marker+"-entry")); got != want {
			t.Fatalf("%s holds the marker: %v, want %v", filepath.Base(walPath(path)), got, want)
		}
		if got := bytes.Contains(b, []byte(marker)); got != want {
			t.Fatalf("%s holds the marker: %v, want %v", filepath.Base(path), got, want)
		}
	}
	s, err := Open(sealed, WithCipher(c))
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := s.Snapshot()
	ents, err := s.Entries(2, 3, 1<<20)
	s.Close()
	if err != nil || string(snap.Data) != marker+"-snapshot" || len(ents) != 1 || string(ents[0].Data) != marker+"-entry-2" {
		t.Fatalf("reloaded: snapshot %q, entries %v, %v", snap.Data, ents, err)
	}
	if _, err := Open(sealed); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("sealed file opened without its cipher: %v, want ErrCorrupt", err)
	}
}
