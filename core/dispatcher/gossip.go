package dispatcher

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// Gossip keys: the leader's dispatcher gives the cluster its first gossip
// key when it has none and makes a new one primary every
// ClusterSpec.gossip_key_rotation (swarm: 12 h), keeping the previous ones
// so that nodes that have not heard of the new key yet still decrypt and
// are decrypted. Sessions get the keys in their first message and again
// whenever they change, and a few other nodes' gossip addresses to join.
const (
	DefaultGossipKeyRotation = 12 * time.Hour
	// GossipKeysKept is how many keys the cluster keeps (primary + 2 old).
	GossipKeysKept = 3
	// gossipKeySize: AES-256.
	gossipKeySize = 32
	// maxGossipPeers bounds the peers a session is given to join.
	maxGossipPeers = 8
)

// rotateGossipKeys returns keys with a fresh primary in front when there is
// no key or the primary is at least every old, trimmed to GossipKeysKept;
// changed is false (and keys returned as they are) otherwise.
func rotateGossipKeys(keys []*shoalv1.GossipKey, now time.Time, every time.Duration, rnd io.Reader) (out []*shoalv1.GossipKey, changed bool, err error) {
	if len(keys) > 0 && now.Sub(keys[0].GetCreated().AsTime()) < every {
		return keys, false, nil
	}
	k := make([]byte, gossipKeySize)
	if _, err := io.ReadFull(rnd, k); err != nil {
		return keys, false, fmt.Errorf("dispatcher: new gossip key: %w", err)
	}
	out = append([]*shoalv1.GossipKey{{Key: k, Created: timestamppb.New(now)}}, keys...)
	return out[:min(len(out), GossipKeysKept)], true, nil
}

// keyRotation is the cluster's rotation period.
func keyRotation(spec *shoalv1.ClusterSpec) time.Duration {
	if d := spec.GetGossipKeyRotation().AsDuration(); d > 0 {
		return d
	}
	return DefaultGossipKeyRotation
}

// rotationCheck is how often the leader looks whether the key is due.
func rotationCheck(every time.Duration) time.Duration {
	return min(max(every/8, time.Millisecond), time.Minute)
}

// ensureGossipKeys writes a first or rotated key into the cluster object
// when one is due; the cluster watch then hands it to the sessions. It
// returns the time of the next check.
func (d *Dispatcher) ensureGossipKeys(ctx context.Context) time.Duration {
	every := DefaultGossipKeyRotation
	err := d.store.Update(ctx, func(tx store.Tx) error {
		cs, err := tx.FindClusters(store.All())
		if err != nil || len(cs) == 0 {
			return err
		}
		c := cs[0]
		every = keyRotation(c.GetSpec())
		keys, changed, err := rotateGossipKeys(c.GetGossipKeys(), d.cfg.Clock.Now(), every, d.cfg.Rand)
		if err != nil || !changed {
			return err
		}
		c = proto.CloneOf(c) // reads are shared: change a copy
		c.GossipKeys = keys
		d.log.Info("gossip key rotated", "keys", len(keys), "every", every)
		return tx.Update(c)
	})
	if err != nil {
		d.log.Warn("gossip key rotation", "err", err)
	}
	return rotationCheck(every)
}

// applyGossipKeys keeps the cluster's keys for the sessions and wakes them
// when the keys changed.
func (d *Dispatcher) applyGossipKeys(keys []*shoalv1.GossipKey) {
	raw := make([][]byte, 0, len(keys))
	for _, k := range keys {
		raw = append(raw, k.GetKey())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if slices.EqualFunc(raw, d.gossipKeys, slices.Equal) {
		return
	}
	d.gossipKeys = raw
	for _, s := range d.sessions {
		signal(s.notify)
	}
}

// gossipKeysLocked returns the current keys. d.mu is held.
func (d *Dispatcher) gossipKeysLocked() [][]byte { return d.gossipKeys }

// gossipPeersLocked lists up to maxGossipPeers gossip addresses of other
// nodes with a session, sorted. d.mu is held.
func (d *Dispatcher) gossipPeersLocked(nodeID string) []string {
	return d.peers.gossipPeers(nodeID, maxGossipPeers)
}
