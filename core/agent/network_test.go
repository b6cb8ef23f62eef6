package agent

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/poll"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shoal-project/shoal/core/dispatcher"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/runtime/sim"
)

// fakeNetwork records what the agent hands the node's network side.
type fakeNetwork struct {
	mu       sync.Mutex
	keys     [][]byte
	networks int // SetNetworks calls
}

func (f *fakeNetwork) SetGossip(keys [][]byte, _ []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = keys
	return nil
}

func (f *fakeNetwork) SetNetworks(context.Context, []*shoalv1.NetworkAssignment, string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.networks++
	return nil
}

func (f *fakeNetwork) primary() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.keys) == 0 {
		return nil
	}
	return f.keys[0]
}

func TestSessionGossipKeysAndAssignmentsReachTheNetworkSide(t *testing.T) {
	m := newManager(t, dispatcher.Config{})
	clock := sim.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	autoAdvance(t, clock, 10*time.Millisecond)
	cl := newClients(t, "n1", map[string]string{"m1": m.srv.URL})
	net := &fakeNetwork{}
	startAgent(t, Config{NodeID: "n1", Managers: []string{"m1"}, Client: cl.client, Backend: simBackend(t, clock, sim.Config{}),
		Clock: agentClock{clock}, Network: net})

	setKey := func(b byte) {
		err := m.st.Update(context.Background(), func(tx store.Tx) error {
			// Created now: a key without a date would be due for rotation at once.
			key := []*shoalv1.GossipKey{{Key: bytes.Repeat([]byte{b}, 32), Created: timestamppb.Now()}}
			if c := proto.CloneOf(tx.GetCluster("c1")); c != nil {
				c.GossipKeys = key
				return tx.Update(c)
			}
			return tx.Create(&shoalv1.Cluster{Id: "c1", GossipKeys: key})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	setKey(1)
	poll.Until(t, "the cluster's gossip key reaches the network side", func() bool { return bytes.Equal(net.primary(), bytes.Repeat([]byte{1}, 32)) })
	setKey(2)
	poll.Until(t, "the rotated key reaches the network side", func() bool { return bytes.Equal(net.primary(), bytes.Repeat([]byte{2}, 32)) })
	poll.Until(t, "the complete assignment set's networks reach the network side", func() bool {
		net.mu.Lock()
		defer net.mu.Unlock()
		return net.networks > 0
	})
}
