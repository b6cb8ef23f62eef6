package gossip

import (
	"errors"
	"fmt"
	"net"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrMalformed is wrapped by decode for a message that is not a valid
// gossip state.
var ErrMalformed = errors.New("gossip: malformed message")

// The wire format is protobuf's, written with protowire: compact (a delta
// with 25-character IDs is 116 bytes, a dozen to a 1,400-byte packet), and
// forward compatible (a decoder skips fields it does not know), with no
// generated code or schema registry for three small messages.
//
//	message State     { repeated NodeState nodes = 1; }
//	message NodeState { string node = 1; bytes addr = 2; uint64 floor = 3; repeated Record records = 4; }
//	message Record    { uint64 seq = 1; bool withdrawn = 2; string network = 3; string task = 4;
//	                    bytes prefix = 5; bytes mac = 6; string service_id = 7;
//	                    string service_name = 8; string task_name = 9; }
//
// addr and prefix are netip's binary forms (MarshalBinary).
const (
	fieldNodes = 1

	fieldNode    = 1
	fieldAddr    = 2
	fieldFloor   = 3
	fieldRecords = 4

	fieldSeq       = 1
	fieldWithdrawn = 2
	fieldNetwork   = 3
	fieldTask      = 4
	fieldPrefix    = 5
	fieldMAC       = 6
	fieldServiceID = 7
	fieldService   = 8
	fieldTaskName  = 9
)

func encode(states []nodeState) []byte {
	var b []byte
	for _, ns := range states {
		b = protowire.AppendTag(b, fieldNodes, protowire.BytesType)
		b = protowire.AppendBytes(b, encodeNodeState(ns))
	}
	return b
}

func encodeNodeState(ns nodeState) []byte {
	var b []byte
	b = appendBytes(b, fieldNode, []byte(ns.node))
	addr, _ := ns.addr.MarshalBinary()
	b = appendBytes(b, fieldAddr, addr)
	b = appendVarint(b, fieldFloor, ns.floor)
	for _, r := range ns.records {
		b = protowire.AppendTag(b, fieldRecords, protowire.BytesType)
		b = protowire.AppendBytes(b, encodeRecord(r))
	}
	return b
}

func encodeRecord(r record) []byte {
	var b []byte
	b = appendVarint(b, fieldSeq, r.seq)
	if r.withdrawn {
		b = appendVarint(b, fieldWithdrawn, 1)
	}
	b = appendBytes(b, fieldNetwork, []byte(r.att.NetworkID))
	b = appendBytes(b, fieldTask, []byte(r.att.TaskID))
	prefix, _ := r.att.Addr.MarshalBinary()
	b = appendBytes(b, fieldPrefix, prefix)
	b = appendBytes(b, fieldServiceID, []byte(r.att.ServiceID))
	b = appendBytes(b, fieldService, []byte(r.att.ServiceName))
	b = appendBytes(b, fieldTaskName, []byte(r.att.TaskName))
	return appendBytes(b, fieldMAC, r.att.MAC)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// decode parses a State. Every node state and record must be whole: a node
// ID, a key, and for a live record a valid address.
func decode(b []byte) ([]nodeState, error) {
	var out []nodeState
	err := walk(b, func(f field) error {
		if f.num != fieldNodes {
			return nil
		}
		ns, err := decodeNodeState(f.bytes)
		if err != nil {
			return err
		}
		out = append(out, ns)
		return nil
	})
	return out, err
}

func decodeNodeState(b []byte) (nodeState, error) {
	var ns nodeState
	err := walk(b, func(f field) error {
		switch f.num {
		case fieldNode:
			ns.node = string(f.bytes)
		case fieldAddr:
			return unmarshal(&ns.addr, f.bytes, "node address")
		case fieldFloor:
			ns.floor = f.varint
		case fieldRecords:
			r, err := decodeRecord(f.bytes)
			if err != nil {
				return err
			}
			ns.records = append(ns.records, r)
		}
		return nil
	})
	if err == nil && ns.node == "" {
		err = fmt.Errorf("%w: node state without a node ID", ErrMalformed)
	}
	return ns, err
}

func decodeRecord(b []byte) (record, error) {
	var r record
	err := walk(b, func(f field) error {
		switch f.num {
		case fieldSeq:
			r.seq = f.varint
		case fieldWithdrawn:
			r.withdrawn = f.varint != 0
		case fieldNetwork:
			r.att.NetworkID = string(f.bytes)
		case fieldTask:
			r.att.TaskID = string(f.bytes)
		case fieldPrefix:
			return unmarshal(&r.att.Addr, f.bytes, "task address")
		case fieldMAC:
			r.att.MAC = net.HardwareAddr(append([]byte(nil), f.bytes...))
		case fieldServiceID:
			r.att.ServiceID = string(f.bytes)
		case fieldService:
			r.att.ServiceName = string(f.bytes)
		case fieldTaskName:
			r.att.TaskName = string(f.bytes)
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	if r.withdrawn {
		r.att = Attachment{NetworkID: r.att.NetworkID, TaskID: r.att.TaskID}
		if r.att.NetworkID == "" || r.att.TaskID == "" {
			return r, fmt.Errorf("%w: withdrawn record without a network or task ID", ErrMalformed)
		}
		return r, nil
	}
	if err := r.att.validate(); err != nil {
		return r, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return r, nil
}

func unmarshal[T interface{ UnmarshalBinary([]byte) error }](dst T, b []byte, what string) error {
	if err := dst.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
	}
	return nil
}

// field is one decoded protobuf field: varint for varints, bytes for
// length-delimited fields; other wire types are skipped.
type field struct {
	num    protowire.Number
	typ    protowire.Type
	varint uint64
	bytes  []byte
}

func walk(b []byte, fn func(field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %w", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.varint, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			f.bytes, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("%w: field %d: %w", ErrMalformed, num, protowire.ParseError(n))
		}
		b = b[n:]
		if typ != protowire.VarintType && typ != protowire.BytesType {
			continue
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}
