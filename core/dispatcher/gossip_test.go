package dispatcher

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"testing/iotest"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func TestRotateGossipKeys(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	key := func(b byte, age time.Duration) *shoalv1.GossipKey {
		return &shoalv1.GossipKey{Key: bytes.Repeat([]byte{b}, 32), Created: timestamppb.New(now.Add(-age))}
	}
	tests := []struct {
		name        string
		keys        []*shoalv1.GossipKey
		wantChanged bool
		wantOld     []byte // the keys kept behind the new primary, by first byte
	}{
		{name: "no key: a first one", wantChanged: true},
		{name: "young primary stays", keys: []*shoalv1.GossipKey{key(1, time.Hour)}},
		{name: "due primary: new one in front", keys: []*shoalv1.GossipKey{key(1, 12*time.Hour)}, wantChanged: true, wantOld: []byte{1}},
		{name: "only three kept", keys: []*shoalv1.GossipKey{key(1, 13*time.Hour), key(2, 25*time.Hour), key(3, 37*time.Hour)},
			wantChanged: true, wantOld: []byte{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rnd := bytes.NewReader(bytes.Repeat([]byte{9}, 64))
			got, changed, err := rotateGossipKeys(tt.keys, now, 12*time.Hour, rnd)
			if err != nil {
				t.Fatal(err)
			}
			if changed != tt.wantChanged {
				t.Fatalf("changed = %v, want %v", changed, tt.wantChanged)
			}
			if !changed {
				if !slices.Equal(got, tt.keys) {
					t.Fatalf("keys changed though not due")
				}
				return
			}
			if !bytes.Equal(got[0].GetKey(), bytes.Repeat([]byte{9}, 32)) || !got[0].GetCreated().AsTime().Equal(now) {
				t.Fatalf("primary = %x created %v, want 32 fresh bytes created now", got[0].GetKey(), got[0].GetCreated().AsTime())
			}
			var old []byte
			for _, k := range got[1:] {
				old = append(old, k.GetKey()[0])
			}
			if !bytes.Equal(old, tt.wantOld) {
				t.Fatalf("kept %v behind the primary, want %v", old, tt.wantOld)
			}
		})
	}
}

func TestRotateGossipKeysReportsRandomnessFailure(t *testing.T) {
	_, changed, err := rotateGossipKeys(nil, time.Now(), time.Hour, iotest.ErrReader(errors.New("no entropy")))
	if err == nil || changed {
		t.Fatalf("rotate = changed %v, err %v; want an error and no change", changed, err)
	}
}

func TestSessionsGetGossipKeysPeersAndRotations(t *testing.T) {
	withCluster := func(st *store.Store) error {
		return st.Update(t.Context(), func(tx store.Tx) error {
			return tx.Create(&shoalv1.Cluster{Id: "c1", Spec: &shoalv1.ClusterSpec{GossipKeyRotation: durationpb.New(time.Hour)}})
		})
	}
	h := newHarnessSeeded(t, Config{}, withCluster)
	first, stream := h.openSession(h.client("n1"), "n1", Version)
	keys := first.GetGossipKeys()
	if len(keys) != 1 || len(keys[0]) != 32 {
		t.Fatalf("first message: %d gossip keys, want one 32-byte key generated at start", len(keys))
	}
	if len(first.GetGossipPeers()) != 0 {
		t.Fatalf("first node got peers %v, want none", first.GetGossipPeers())
	}
	second, _ := h.openSession(h.client("n2"), "n2", Version)
	if got := second.GetGossipPeers(); !slices.Equal(got, []string{"gossip-n1:7946"}) {
		t.Fatalf("second node's peers = %v, want the first node's gossip address", got)
	}
	if !slices.EqualFunc(second.GetGossipKeys(), keys, bytes.Equal) {
		t.Fatalf("second node got other keys than the first")
	}

	h.clock.Advance(time.Hour + time.Minute)
	if !stream.Receive() {
		t.Fatalf("no message after the rotation: %v", stream.Err())
	}
	rotated := stream.Msg().GetGossipKeys()
	if len(rotated) != 2 || bytes.Equal(rotated[0], keys[0]) || !bytes.Equal(rotated[1], keys[0]) {
		t.Fatalf("after rotation: %d keys, want a new primary followed by the old key", len(rotated))
	}
}
