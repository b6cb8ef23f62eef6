package raft

import (
	"encoding/binary"
	"fmt"

	"github.com/shoal-project/shoal/core/raft/storage"
)

// Entry envelope: shoal's header in front of the opaque payload of every
// normal log entry, so the proposer can find the waiter of its entry when it
// is applied.
//
//	version (1 byte, = 1) | origin raft ID (8 bytes BE) | request ID (8 bytes BE) | payload
const (
	entryVersion   = 1
	entryHeaderLen = 1 + 8 + 8
)

func encodeEntry(origin, reqID uint64, payload []byte) []byte {
	b := make([]byte, entryHeaderLen, entryHeaderLen+len(payload))
	b[0] = entryVersion
	binary.BigEndian.PutUint64(b[1:9], origin)
	binary.BigEndian.PutUint64(b[9:17], reqID)
	return append(b, payload...)
}

func decodeEntry(b []byte) (origin, reqID uint64, payload []byte, err error) {
	if len(b) < entryHeaderLen || b[0] != entryVersion {
		return 0, 0, nil, fmt.Errorf("%w: entry of %d bytes", ErrBadEnvelope, len(b))
	}
	return binary.BigEndian.Uint64(b[1:9]), binary.BigEndian.Uint64(b[9:17]), b[entryHeaderLen:], nil
}

// Snapshot envelope: the membership table travels inside the Raft snapshot
// so a member that joins from a snapshot learns every address.
//
//	"SHS1" | uvarint #members | (uvarint raftID, member) ... | uvarint #removed | uvarint raftID ... | state machine data
var snapMagic = []byte("SHS1")

type snapshotEnvelope struct {
	members []Member
	removed []uint64
	data    []byte
}

func encodeSnapshot(s snapshotEnvelope) []byte {
	b := append([]byte(nil), snapMagic...)
	b = binary.AppendUvarint(b, uint64(len(s.members)))
	for _, m := range s.members {
		b = binary.AppendUvarint(b, m.RaftID)
		b = append(b, storage.EncodeMember(m.NodeID, m.Addr)...)
	}
	b = binary.AppendUvarint(b, uint64(len(s.removed)))
	for _, r := range s.removed {
		b = binary.AppendUvarint(b, r)
	}
	return append(b, s.data...)
}

func decodeSnapshot(b []byte) (snapshotEnvelope, error) {
	var s snapshotEnvelope
	if len(b) < len(snapMagic) || string(b[:len(snapMagic)]) != string(snapMagic) {
		return s, fmt.Errorf("%w: snapshot magic", ErrBadEnvelope)
	}
	b = b[len(snapMagic):]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return s, fmt.Errorf("%w: member count", ErrBadEnvelope)
	}
	b = b[k:]
	for range n {
		id, k := binary.Uvarint(b)
		if k <= 0 {
			return s, fmt.Errorf("%w: member id", ErrBadEnvelope)
		}
		nodeID, addr, rest, err := storage.DecodeMember(b[k:])
		if err != nil {
			return s, fmt.Errorf("%w: member: %v", ErrBadEnvelope, err)
		}
		s.members = append(s.members, Member{RaftID: id, NodeID: nodeID, Addr: addr})
		b = rest
	}
	n, k = binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return s, fmt.Errorf("%w: removed count", ErrBadEnvelope)
	}
	b = b[k:]
	for range n {
		id, k := binary.Uvarint(b)
		if k <= 0 {
			return s, fmt.Errorf("%w: removed id", ErrBadEnvelope)
		}
		s.removed = append(s.removed, id)
		b = b[k:]
	}
	s.data = b
	return s, nil
}
