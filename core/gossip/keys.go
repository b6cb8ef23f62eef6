package gossip

import (
	"fmt"
	"slices"

	"github.com/hashicorp/memberlist"
)

func validateKeys(keys [][]byte) error {
	if len(keys) == 0 {
		return fmt.Errorf("%w: Keys is empty: give at least one 16, 24 or 32-byte gossip key", ErrInvalidConfig)
	}
	for i, k := range keys {
		if err := memberlist.ValidateKey(k); err != nil {
			return fmt.Errorf("%w: Keys[%d] has %d bytes: give a 16, 24 or 32-byte key (AES-128/192/256)", ErrInvalidConfig, i, len(k))
		}
	}
	return nil
}

func newKeyring(keys [][]byte) (*memberlist.Keyring, error) {
	if err := validateKeys(keys); err != nil {
		return nil, err
	}
	kr, err := memberlist.NewKeyring(keys, keys[0])
	if err != nil {
		return nil, fmt.Errorf("%w: Keys: %w", ErrInvalidConfig, err)
	}
	return kr, nil
}

// SetKeys replaces the gossip keys without a restart: it installs the
// keys it does not have, makes keys[0] the key that encrypts, and drops
// the installed keys that are not in keys. Every installed key decrypts.
//
// To rotate without losing messages, every member must hold a new key
// before any member encrypts with it: hand out [old, new] first, then
// [new, old] once every node has it, then [new] once every node encrypts
// with it (swarm's managers rotate the same way).
func (m *Member) SetKeys(keys [][]byte) error {
	if err := validateKeys(keys); err != nil {
		return err
	}
	m.keysMu.Lock()
	defer m.keysMu.Unlock()
	for _, k := range keys {
		if err := m.keyring.AddKey(k); err != nil {
			return fmt.Errorf("gossip: install key: %w", err)
		}
	}
	if err := m.keyring.UseKey(keys[0]); err != nil {
		return fmt.Errorf("gossip: use key: %w", err)
	}
	for _, k := range m.keyring.GetKeys() {
		if !slices.ContainsFunc(keys, func(w []byte) bool { return slices.Equal(w, k) }) {
			if err := m.keyring.RemoveKey(k); err != nil {
				return fmt.Errorf("gossip: remove key: %w", err)
			}
		}
	}
	return nil
}
