package storage

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Identity is who this Raft member is. It is written once when the member
// is created (bootstrap or join) and read on restart.
type Identity struct {
	RaftID uint64
	NodeID string
	Addr   string
}

// Member is one entry of the membership table.
type Member struct {
	RaftID uint64
	NodeID string
	Addr   string
	// Learner is true while the member is a non-voting learner (it joined
	// and the leader has not promoted it yet).
	Learner bool
}

// Member record in the members bucket: EncodeMember(nodeID, addr), then one
// flags byte (bit 0: learner). Records written before learners existed have
// no flags byte and decode as voters.
const flagLearner = 1

func encodeMemberRecord(m Member) []byte {
	b := EncodeMember(m.NodeID, m.Addr)
	if m.Learner {
		b = append(b, flagLearner)
	}
	return b
}

func decodeMemberRecord(raftID uint64, v []byte) (Member, error) {
	nodeID, addr, rest, err := DecodeMember(v)
	if err != nil {
		return Member{}, err
	}
	m := Member{RaftID: raftID, NodeID: nodeID, Addr: addr}
	switch {
	case len(rest) == 0:
	case len(rest) == 1 && rest[0]&^flagLearner == 0:
		m.Learner = rest[0]&flagLearner != 0
	default:
		return Member{}, fmt.Errorf("%w: member %d flags", ErrCorrupt, raftID)
	}
	return m, nil
}

// EncodeMember encodes m's node ID and address (not its Raft ID).
func EncodeMember(nodeID, addr string) []byte {
	b := binary.AppendUvarint(nil, uint64(len(nodeID)))
	b = append(b, nodeID...)
	b = binary.AppendUvarint(b, uint64(len(addr)))
	return append(b, addr...)
}

// DecodeMember is the inverse of EncodeMember; it returns the unread rest.
func DecodeMember(b []byte) (nodeID, addr string, rest []byte, err error) {
	nodeID, b, err = readString(b)
	if err != nil {
		return "", "", nil, err
	}
	addr, b, err = readString(b)
	if err != nil {
		return "", "", nil, err
	}
	return nodeID, addr, b, nil
}

func readString(b []byte) (string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return "", nil, fmt.Errorf("%w: bad string", ErrCorrupt)
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}

// Identity returns the stored identity; ok is false when none was stored
// (a fresh data directory).
func (s *Storage) Identity() (id Identity, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketState).Get(keyIdentity)
		if v == nil {
			return nil
		}
		r, k := binary.Uvarint(v)
		if k <= 0 {
			return fmt.Errorf("%w: identity", ErrCorrupt)
		}
		nodeID, addr, _, derr := DecodeMember(v[k:])
		if derr != nil {
			return derr
		}
		id, ok = Identity{RaftID: r, NodeID: nodeID, Addr: addr}, true
		return nil
	})
	return id, ok, err
}

// SetIdentity stores this member's identity.
func (s *Storage) SetIdentity(id Identity) error {
	v := binary.AppendUvarint(nil, id.RaftID)
	v = append(v, EncodeMember(id.NodeID, id.Addr)...)
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketState).Put(keyIdentity, v) })
}

// Members returns the stored membership table and removed Raft IDs, both in
// ascending Raft ID order.
func (s *Storage) Members() (members []Member, removed []uint64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketMembers).ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("%w: member key", ErrCorrupt)
			}
			m, err := decodeMemberRecord(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			members = append(members, m)
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketRemoved).ForEach(func(k, _ []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("%w: removed key", ErrCorrupt)
			}
			removed = append(removed, binary.BigEndian.Uint64(k))
			return nil
		})
	})
	return members, removed, err
}

// PutMember adds or updates one member (a learner's promotion too).
func (s *Storage) PutMember(m Member) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMembers).Put(indexKey(m.RaftID), encodeMemberRecord(m))
	})
}

// RemoveMember deletes a member and records its Raft ID as removed forever.
func (s *Storage) RemoveMember(raftID uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketMembers).Delete(indexKey(raftID)); err != nil {
			return err
		}
		return tx.Bucket(bucketRemoved).Put(indexKey(raftID), nil)
	})
}

// SetMembers replaces the whole membership table (after restoring a snapshot).
func (s *Storage) SetMembers(members []Member, removed []uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMembers, bucketRemoved} {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		for _, m := range members {
			if err := tx.Bucket(bucketMembers).Put(indexKey(m.RaftID), encodeMemberRecord(m)); err != nil {
				return err
			}
		}
		for _, r := range removed {
			if err := tx.Bucket(bucketRemoved).Put(indexKey(r), nil); err != nil {
				return err
			}
		}
		return nil
	})
}
