package sdk

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrMalformed is returned (wrapped) by every decoder for input that is not a
// valid encoding.
var ErrMalformed = errors.New("sdk: malformed message")

// decoder walks the fields of one message.
type decoder struct {
	b   []byte
	err error
	// immutable means b lies in the memory of a string (see
	// immutableDecoder): strings are sliced from it instead of copied.
	immutable bool
}

// immutableDecoder copies b once into a string and decodes from that
// string's memory, so that each decoded string is a slice of it rather than
// an allocation of its own: a request of 100,000 task IDs costs one
// allocation instead of 100,000 (which matters most in a Wasm guest, where
// allocation and garbage collection are slow). The decoded strings keep the
// whole copy alive.
func immutableDecoder(b []byte) decoder {
	if len(b) == 0 {
		return decoder{}
	}
	s := string(b)
	return decoder{b: unsafe.Slice(unsafe.StringData(s), len(s)), immutable: true}
}

// next returns the next field's number and type; ok is false at the end or
// on error.
func (d *decoder) next() (protowire.Number, protowire.Type, bool) {
	if d.err != nil || len(d.b) == 0 {
		return 0, 0, false
	}
	num, typ, n := protowire.ConsumeTag(d.b)
	if n < 0 {
		d.fail(protowire.ParseError(n))
		return 0, 0, false
	}
	d.b = d.b[n:]
	return num, typ, true
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %v", ErrMalformed, err)
	}
}

func (d *decoder) failf(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

// skip consumes a field value of an unknown field.
func (d *decoder) skip(num protowire.Number, typ protowire.Type) {
	n := protowire.ConsumeFieldValue(num, typ, d.b)
	if n < 0 {
		d.fail(protowire.ParseError(n))
		return
	}
	d.b = d.b[n:]
}

func (d *decoder) varint(typ protowire.Type) uint64 {
	if typ != protowire.VarintType {
		d.failf("want varint, got wire type %d", typ)
		return 0
	}
	v, n := protowire.ConsumeVarint(d.b)
	if n < 0 {
		d.fail(protowire.ParseError(n))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint32(typ protowire.Type) uint32 {
	v := d.varint(typ)
	if v > 0xffffffff {
		d.failf("uint32 out of range: %d", v)
		return 0
	}
	return uint32(v)
}

func (d *decoder) int64(typ protowire.Type) int64 { return int64(d.varint(typ)) }

func (d *decoder) bytes(typ protowire.Type) []byte {
	if typ != protowire.BytesType {
		d.failf("want length-delimited, got wire type %d", typ)
		return nil
	}
	v, n := protowire.ConsumeBytes(d.b)
	if n < 0 {
		d.fail(protowire.ParseError(n))
		return nil
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(typ protowire.Type) string {
	p := d.bytes(typ)
	if d.immutable && len(p) > 0 {
		return unsafe.String(&p[0], len(p))
	}
	return string(p)
}

// sint32s decodes a packed (or a single unpacked) repeated sint32 field and
// appends to dst.
func (d *decoder) sint32s(typ protowire.Type, dst []int32) []int32 {
	switch typ {
	case protowire.VarintType:
		v := d.varint(typ)
		return append(dst, int32(protowire.DecodeZigZag(v&0xffffffff)))
	case protowire.BytesType:
		p := d.bytes(typ)
		if d.err != nil {
			return dst
		}
		if dst == nil {
			// At most one element per byte.
			dst = make([]int32, 0, countVarints(p))
		}
		for len(p) > 0 {
			v, n := protowire.ConsumeVarint(p)
			if n < 0 {
				d.fail(protowire.ParseError(n))
				return dst
			}
			p = p[n:]
			dst = append(dst, int32(protowire.DecodeZigZag(v&0xffffffff)))
		}
		return dst
	}
	d.failf("want packed sint32, got wire type %d", typ)
	return dst
}

func countVarints(p []byte) int {
	n := 0
	for _, c := range p {
		if c < 0x80 {
			n++
		}
	}
	return n
}

// mapEntry decodes one map<string, X> entry; value decodes the value field.
func (d *decoder) mapEntry(typ protowire.Type, value func(*decoder, protowire.Type)) string {
	p := d.bytes(typ)
	if d.err != nil {
		return ""
	}
	e := decoder{b: p, immutable: d.immutable}
	var key string
	for {
		num, t, ok := e.next()
		if !ok {
			break
		}
		switch num {
		case 1:
			key = e.string(t)
		case 2:
			value(&e, t)
		default:
			e.skip(num, t)
		}
	}
	if e.err != nil {
		d.fail(e.err)
	}
	return key
}

// message decodes a nested message with fn.
func (d *decoder) message(typ protowire.Type, fn func(*decoder)) {
	p := d.bytes(typ)
	if d.err != nil {
		return
	}
	e := decoder{b: p, immutable: d.immutable}
	fn(&e)
	if e.err != nil {
		d.err = e.err
	}
}

// Encoding helpers. Zero values are omitted, as proto3 does.

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendRepeatedString(b []byte, num protowire.Number, ss []string) []byte {
	for _, s := range ss {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	return b
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	return appendVarint(b, num, 1)
}

// appendMessage appends a nested message produced by fn. The length prefix
// is reserved and patched afterwards, so no scratch buffer is needed.
func appendMessage(b []byte, num protowire.Number, fn func([]byte) []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	start := len(b)
	// Reserve one byte; most nested messages are short.
	b = append(b, 0)
	b = fn(b)
	size := len(b) - start - 1
	if size < 0x80 {
		b[start] = byte(size)
		return b
	}
	sz := protowire.SizeVarint(uint64(size))
	// Grow by sz-1 bytes and shift the body right.
	for i := 1; i < sz; i++ {
		b = append(b, 0)
	}
	copy(b[start+sz:], b[start+1:start+1+size])
	protowire.AppendVarint(b[start:start], uint64(size))
	return b
}

func appendPackedSint32(b []byte, num protowire.Number, vs []int32) []byte {
	if len(vs) == 0 {
		return b
	}
	size := 0
	for _, v := range vs {
		size += protowire.SizeVarint(protowire.EncodeZigZag(int64(v)))
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	// One allocation for the values: appended one by one, a 100,000-task
	// answer grew the buffer some 20 times, copying it each time.
	b = slices.Grow(b, size)
	for _, v := range vs {
		b = protowire.AppendVarint(b, protowire.EncodeZigZag(int64(v)))
	}
	return b
}

// sortedKeys makes map encoding deterministic.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// fields calls field for each field of the message being decoded; fields
// it does not know (it returns false) are skipped, as proto3 requires.
func (d *decoder) fields(field func(num protowire.Number, typ protowire.Type) bool) {
	for {
		num, typ, ok := d.next()
		if !ok {
			return
		}
		if !field(num, typ) {
			d.skip(num, typ)
		}
	}
}

// decodeMessage decodes b as a top-level message of type T, one field at a
// time with field (false for a field it does not know, which is skipped).
func decodeMessage[T any](b []byte, field func(r *T, d *decoder, num protowire.Number, typ protowire.Type) bool) (*T, error) {
	r := new(T)
	d := decoder{b: b}
	d.fields(func(num protowire.Number, typ protowire.Type) bool { return field(r, &d, num, typ) })
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}
