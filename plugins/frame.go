package plugins

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
)

// The sandbox pipe carries frames: a 4-byte big-endian length (of what
// follows), a 1-byte frame type and a payload of protobuf-wire fields.
// Requests go host -> sandbox and each gets exactly one reply.

type frameType uint8

const (
	// host -> sandbox
	frameConfig   frameType = 1 // 1 cache dir, 2 mem pages, 3 max output, 4 max log, 5 pool size
	frameLoad     frameType = 2 // 1 sha, 2 wasm
	frameValidate frameType = 3 // 1 wasm, 2 kind
	frameCall     frameType = 4 // 1 sha, 2 op, 3 request
	frameUnload   frameType = 5 // 1 sha

	// sandbox -> host
	frameOK     frameType = 10 // 1 abi version, 2 capabilities (validate)
	frameErr    frameType = 11 // 1 error code, 2 detail, 3 guest output
	frameResult frameType = 12 // 1 answer, 2 guest output
)

var errFrameTooLarge = errors.New("frame too large")

type frame struct {
	typ     frameType
	payload []byte
}

func writeFrame(w io.Writer, typ frameType, payload []byte) error {
	hdr := make([]byte, 5, 5+len(payload))
	binary.BigEndian.PutUint32(hdr, uint32(len(payload)+1))
	hdr[4] = byte(typ)
	_, err := w.Write(append(hdr, payload...))
	return err
}

func readFrame(r io.Reader, max uint32) (frame, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n == 0 || n-1 > max {
		return frame{}, fmt.Errorf("%w: %d bytes (max %d)", errFrameTooLarge, n, max)
	}
	payload := make([]byte, n-1)
	if _, err := io.ReadFull(r, payload); err != nil {
		return frame{}, err
	}
	return frame{typ: frameType(hdr[4]), payload: payload}, nil
}

// fields is a tiny protobuf-wire record: numbered bytes and varints.
type fields struct {
	bytes   map[protowire.Number][]byte
	varints map[protowire.Number]uint64
}

func encodeFields(b []byte, kv ...any) []byte {
	for i := 0; i+1 < len(kv); i += 2 {
		num := protowire.Number(kv[i].(int))
		switch v := kv[i+1].(type) {
		case []byte:
			b = protowire.AppendTag(b, num, protowire.BytesType)
			b = protowire.AppendBytes(b, v)
		case string:
			b = protowire.AppendTag(b, num, protowire.BytesType)
			b = protowire.AppendString(b, v)
		case uint64:
			b = protowire.AppendTag(b, num, protowire.VarintType)
			b = protowire.AppendVarint(b, v)
		}
	}
	return b
}

func decodeFields(b []byte) (fields, error) {
	f := fields{bytes: map[protowire.Number][]byte{}, varints: map[protowire.Number]uint64{}}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return f, protowire.ParseError(n)
		}
		b = b[n:]
		switch typ {
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return f, protowire.ParseError(n)
			}
			f.bytes[num] = v
			b = b[n:]
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return f, protowire.ParseError(n)
			}
			f.varints[num] = v
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return f, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return f, nil
}
