package gossip

import (
	"errors"
	"net"
	"net/netip"
	"reflect"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func sampleStates() []nodeState {
	a := att("t1", "10.0.0.2/24")
	a.MAC = net.HardwareAddr{0x02, 0x42, 0x0a, 0, 0, 2}
	a.ServiceID, a.ServiceName, a.TaskName = "s1", "web", "web.1.t1"
	return []nodeState{
		{node: "a", addr: netip.MustParseAddr("192.0.2.1"), floor: 7, records: []record{
			{seq: 5, att: a},
			{seq: 7, withdrawn: true, att: Attachment{NetworkID: "n1", TaskID: "t0"}},
		}},
		{node: "b", addr: netip.MustParseAddr("2001:db8::2"), records: []record{{seq: 1 << 62, att: att("t2", "fd00::2/64")}}},
	}
}

func TestWireRoundTrip(t *testing.T) {
	want := sampleStates()
	got, err := decode(encode(want))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decode(encode(x)) = %+v, want %+v", got, want)
	}
	if n := len(encode(want[1:])); n > 80 { // short IDs here; 116 bytes with 25-character ones
		t.Errorf("a one-record delta encodes to %d bytes, want <= 80", n)
	}
}

func TestWireRejectsIncompleteMessages(t *testing.T) {
	withRecord := func(r []byte) []byte {
		ns := appendBytes(nil, fieldNode, []byte("a"))
		ns = appendBytes(ns, fieldRecords, r)
		return appendBytes(nil, fieldNodes, ns)
	}
	tests := []struct {
		name string
		msg  []byte
	}{
		{"truncated", encode(sampleStates())[:20]},
		{"node state without node", appendBytes(nil, fieldNodes, appendVarint(nil, fieldFloor, 3))},
		{"live record without address", withRecord(appendBytes(appendBytes(nil, fieldNetwork, []byte("n")), fieldTask, []byte("t")))},
		{"withdrawn record without task", withRecord(appendVarint(appendBytes(nil, fieldNetwork, []byte("n")), fieldWithdrawn, 1))},
		{"bad address bytes", appendBytes(nil, fieldNodes, appendBytes(appendBytes(nil, fieldNode, []byte("a")), fieldAddr, []byte{1, 2, 3}))},
		{"bad tag", []byte{0x00}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decode(tt.msg); !errors.Is(err, ErrMalformed) {
				t.Fatalf("decode = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestWireSkipsUnknownFields(t *testing.T) {
	b := encode(sampleStates())
	b = protowire.AppendTag(b, 99, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 1)
	b = appendBytes(b, 98, []byte("future"))
	got, err := decode(b)
	if err != nil || len(got) != 2 {
		t.Fatalf("decode with unknown fields = %d states, %v; want 2, nil", len(got), err)
	}
}

// FuzzDecode: any input either fails with ErrMalformed or decodes to
// states that survive a round trip unchanged.
func FuzzDecode(f *testing.F) {
	f.Add(encode(sampleStates()))
	f.Add(encode(sampleStates()[1:]))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		states, err := decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decode error %v is not ErrMalformed", err)
			}
			return
		}
		again, err := decode(encode(states))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(states)) {
			t.Fatalf("round trip changed %+v into %+v", states, again)
		}
	})
}

// normalize maps empty slices to nil so DeepEqual compares content.
func normalize(states []nodeState) []nodeState {
	for i := range states {
		if len(states[i].records) == 0 {
			states[i].records = nil
		}
		for j := range states[i].records {
			if len(states[i].records[j].att.MAC) == 0 {
				states[i].records[j].att.MAC = nil
			}
		}
	}
	return states
}
