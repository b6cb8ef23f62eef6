package rafttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
)

// ErrRejected is what KV.Apply returns for a payload starting with "reject".
var ErrRejected = errors.New("kv: rejected")

// KV is a deterministic key/value StateMachine. A payload is
// "k1=v1;k2=v2;...": all its pairs are set together, so a reader can check
// that no entry was half-applied. A payload "reject..." changes nothing and
// returns ErrRejected.
type KV struct {
	mu         sync.Mutex
	data       map[string]string
	applied    uint64
	violations []string
	decoded    int // entries applied through ApplyDecoded
	onApply    func(index uint64)
}

// OnApply sets f to be called after each Apply, on the applying node's
// goroutine (nil: none): a test runs the rest of the cluster from it, as
// time passing while this member applies (a slow state machine).
func (k *KV) OnApply(f func(index uint64)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.onApply = f
}

// NewKV returns an empty KV.
func NewKV() *KV { return &KV{data: map[string]string{}} }

// Set encodes a payload setting the given pairs (k1, v1, k2, v2, ...).
func Set(kv ...string) []byte {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(kv[i] + "=" + kv[i+1])
	}
	return []byte(b.String())
}

// Apply implements raft.StateMachine.
func (k *KV) Apply(index uint64, payload []byte) error {
	err := k.apply(index, payload)
	k.mu.Lock()
	f := k.onApply
	k.mu.Unlock()
	if f != nil {
		f(index)
	}
	return err
}

func (k *KV) apply(index uint64, payload []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if index <= k.applied {
		k.violations = append(k.violations, fmt.Sprintf("apply %d after %d", index, k.applied))
	}
	k.applied = index
	s := string(payload)
	if strings.HasPrefix(s, "reject") {
		return ErrRejected
	}
	for _, pair := range strings.Split(s, ";") {
		key, val, ok := strings.Cut(pair, "=")
		if !ok {
			return fmt.Errorf("kv: bad pair %q", pair)
		}
		k.data[key] = val
	}
	return nil
}

type kvSnap struct {
	Applied uint64
	Data    map[string]string
}

// Snapshot implements raft.StateMachine.
func (k *KV) Snapshot() ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return json.Marshal(kvSnap{Applied: k.applied, Data: k.data})
}

// Restore implements raft.StateMachine.
func (k *KV) Restore(index uint64, data []byte) error {
	var s kvSnap
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	if s.Applied > index {
		return fmt.Errorf("kv: snapshot that applied %d restored as %d", s.Applied, index)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.data = s.Data
	if k.data == nil {
		k.data = map[string]string{}
	}
	k.applied = index
	return nil
}

// Get returns a value.
func (k *KV) Get(key string) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.data[key]
	return v, ok
}

// Data returns a copy of the map.
func (k *KV) Data() map[string]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return maps.Clone(k.data)
}

// Applied returns the last applied index.
func (k *KV) Applied() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.applied
}

// Violations lists out-of-order applies seen (want none).
func (k *KV) Violations() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.violations...)
}

// ApplyDecoded implements raft.DecodedApplier: decoded, a string, is the
// payload as the proposer had it; it is applied as Apply would apply the
// payload, and counted (DecodedApplies).
func (k *KV) ApplyDecoded(index uint64, payload []byte, decoded any) error {
	k.mu.Lock()
	k.decoded++
	s, ok := decoded.(string)
	if !ok || s != string(payload) {
		k.violations = append(k.violations, fmt.Sprintf("decoded %q for payload %q at %d", decoded, payload, index))
	}
	k.mu.Unlock()
	return k.Apply(index, []byte(s))
}

// DecodedApplies counts the entries applied through ApplyDecoded.
func (k *KV) DecodedApplies() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.decoded
}
