package policytest_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"

	"github.com/shoal-project/shoal/sdk"
)

func genString() *rapid.Generator[string] { return rapid.StringN(0, 12, -1) }

func genNode() *rapid.Generator[sdk.Node] {
	return rapid.Custom(func(t *rapid.T) sdk.Node {
		return sdk.Node{
			ID:               genString().Draw(t, "id"),
			Hostname:         genString().Draw(t, "host"),
			Ready:            rapid.Bool().Draw(t, "ready"),
			Availability:     sdk.Availability(rapid.Uint32Range(0, 2).Draw(t, "avail")),
			Role:             sdk.Role(rapid.Uint32Range(0, 1).Draw(t, "role")),
			Kinds:            rapid.SliceOfN(genString(), 0, 3).Draw(t, "kinds"),
			TotalNanoCPUs:    rapid.Int64().Draw(t, "tcpu"),
			FreeNanoCPUs:     rapid.Int64().Draw(t, "fcpu"),
			TotalMemoryBytes: rapid.Int64().Draw(t, "tmem"),
			FreeMemoryBytes:  rapid.Int64().Draw(t, "fmem"),
			Labels:           rapid.MapOfN(genString(), genString(), 0, 3).Draw(t, "labels"),
			TaskCount:        rapid.Uint32().Draw(t, "tasks"),
			ServiceTasks:     rapid.MapOfN(genString(), rapid.Uint32(), 0, 3).Draw(t, "svc"),
		}
	})
}

func genGroup() *rapid.Generator[sdk.TaskGroup] {
	return rapid.Custom(func(t *rapid.T) sdk.TaskGroup {
		return sdk.TaskGroup{
			ServiceID:          genString().Draw(t, "svc"),
			SpecVersion:        rapid.Uint64().Draw(t, "ver"),
			Count:              rapid.Uint32().Draw(t, "count"),
			TaskIDs:            rapid.SliceOfN(genString(), 0, 4).Draw(t, "ids"),
			Kind:               genString().Draw(t, "kind"),
			Constraints:        rapid.SliceOfN(genString(), 0, 3).Draw(t, "cons"),
			NanoCPUs:           rapid.Int64().Draw(t, "cpu"),
			MemoryBytes:        rapid.Int64().Draw(t, "mem"),
			MaxReplicasPerNode: rapid.Uint32().Draw(t, "max"),
			Preferences:        rapid.SliceOfN(genString(), 0, 2).Draw(t, "prefs"),
		}
	})
}

var cmpOpts = []cmp.Option{cmpopts.EquateEmpty()}

func TestScheduleRequestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := &sdk.ScheduleRequest{
			Nodes:  rapid.SliceOfN(genNode(), 0, 5).Draw(t, "nodes"),
			Groups: rapid.SliceOfN(genGroup(), 0, 3).Draw(t, "groups"),
		}
		b := in.Marshal()
		out, err := sdk.UnmarshalScheduleRequest(b)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(in, out, cmpOpts...); d != "" {
			t.Fatalf("round trip (-in +out):\n%s", d)
		}
		if !bytes.Equal(b, out.Marshal()) {
			t.Fatal("encoding is not deterministic")
		}
	})
}

func TestScheduleResponseRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := &sdk.ScheduleResponse{
			Groups: rapid.SliceOfN(rapid.Custom(func(t *rapid.T) sdk.GroupResult {
				return sdk.GroupResult{
					Placements: rapid.SliceOfN(rapid.Int32(), 0, 300).Draw(t, "p"),
					Reason:     sdk.Reason(rapid.Uint32Range(0, 4).Draw(t, "r")),
					Explanation: sdk.Explanation{
						NotReady:    rapid.Uint32().Draw(t, "nr"),
						LacksMemory: rapid.Uint32().Draw(t, "lm"),
						MaxPerNode:  rapid.Uint32().Draw(t, "mx"),
					},
					Detail: genString().Draw(t, "d"),
				}
			}), 0, 3).Draw(t, "groups"),
			Error: genString().Draw(t, "err"),
		}
		out, err := sdk.UnmarshalScheduleResponse(in.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(in, out, cmpOpts...); d != "" {
			t.Fatalf("round trip (-in +out):\n%s", d)
		}
	})
}

func TestAllocateRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := &sdk.AllocateRequest{
			Networks: rapid.SliceOfN(rapid.Custom(func(t *rapid.T) sdk.Network {
				return sdk.Network{ID: genString().Draw(t, "id"), Subnet: genString().Draw(t, "s"),
					Gateway: genString().Draw(t, "g"), Allocated: rapid.SliceOfN(genString(), 0, 3).Draw(t, "a")}
			}), 0, 3).Draw(t, "nets"),
			Addresses: rapid.SliceOfN(rapid.Custom(func(t *rapid.T) sdk.AddressRequest {
				return sdk.AddressRequest{ID: genString().Draw(t, "id"), NetworkID: genString().Draw(t, "n")}
			}), 0, 3).Draw(t, "addrs"),
			Ports: rapid.SliceOfN(rapid.Custom(func(t *rapid.T) sdk.PortRequest {
				return sdk.PortRequest{ID: genString().Draw(t, "id"), Protocol: genString().Draw(t, "p")}
			}), 0, 3).Draw(t, "ports"),
			UsedPorts: rapid.SliceOfN(rapid.Custom(func(t *rapid.T) sdk.UsedPort {
				return sdk.UsedPort{Protocol: genString().Draw(t, "p"), Port: rapid.Uint32().Draw(t, "n")}
			}), 0, 3).Draw(t, "used"),
			PortRangeStart: rapid.Uint32().Draw(t, "lo"),
			PortRangeEnd:   rapid.Uint32().Draw(t, "hi"),
		}
		out, err := sdk.UnmarshalAllocateRequest(in.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(in, out, cmpOpts...); d != "" {
			t.Fatalf("request round trip (-in +out):\n%s", d)
		}
		rin := &sdk.AllocateResponse{
			Addresses: []sdk.AddressResult{{Address: "10.0.0.2/24"}, {Code: sdk.AllocPoolExhausted}},
			Ports:     []sdk.PortResult{{Port: 30000}, {Code: sdk.AllocPortsExhausted}},
			Error:     genString().Draw(t, "e"),
		}
		rout, err := sdk.UnmarshalAllocateResponse(rin.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(rin, rout, cmpOpts...); d != "" {
			t.Fatalf("response round trip (-in +out):\n%s", d)
		}
	})
}

func TestLongNestedMessage(t *testing.T) {
	// A nested message longer than 127 bytes exercises the length patching.
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = "task-with-a-rather-long-identifier"
	}
	in := &sdk.ScheduleRequest{Groups: []sdk.TaskGroup{{ServiceID: "s", Count: 1000, TaskIDs: ids}}}
	out, err := sdk.UnmarshalScheduleRequest(in.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(in, out, cmpOpts...); d != "" {
		t.Fatal(d)
	}
}

func TestMalformed(t *testing.T) {
	for _, b := range [][]byte{{0xff}, {0x0a, 0x05, 0x01}, {0x08}, {0x0a, 0x02, 0x18, 0xff}} {
		if _, err := sdk.UnmarshalScheduleRequest(b); !errors.Is(err, sdk.ErrMalformed) {
			t.Errorf("%x: got %v, want ErrMalformed", b, err)
		}
	}
}

func TestExplanationMessage(t *testing.T) {
	g := sdk.GroupResult{Reason: sdk.ReasonNoSuitableNode, Explanation: sdk.Explanation{LacksMemory: 2, Drained: 1}}
	if got, want := g.Message(), "no suitable node: 1 drained, 2 nodes lack memory"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestHandleSchedulePanics(t *testing.T) {
	sdk.RegisterScheduler(func(*sdk.ScheduleRequest) *sdk.ScheduleResponse { panic("boom") })
	defer sdk.RegisterScheduler(nil)
	out, err := sdk.UnmarshalScheduleResponse(sdk.HandleSchedule(nil))
	if err != nil || out.Error != "panic: boom" {
		t.Fatalf("got %+v, %v", out, err)
	}
}

func FuzzUnmarshalScheduleRequest(f *testing.F) {
	f.Add((&sdk.ScheduleRequest{Nodes: []sdk.Node{{ID: "n", Labels: map[string]string{"a": "b"}, ServiceTasks: map[string]uint32{"s": 2}}},
		Groups: []sdk.TaskGroup{{ServiceID: "s", Count: 2, Constraints: []string{"node.role==worker"}}}}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := sdk.UnmarshalScheduleRequest(b)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode and decode to the same value.
		r2, err := sdk.UnmarshalScheduleRequest(r.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(r, r2, cmpOpts...); d != "" {
			t.Fatal(d)
		}
	})
}

func FuzzUnmarshalScheduleResponse(f *testing.F) {
	f.Add((&sdk.ScheduleResponse{Groups: []sdk.GroupResult{{Placements: []int32{0, -1, 5}, Reason: 1}}}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := sdk.UnmarshalScheduleResponse(b)
		if err != nil {
			return
		}
		if _, err := sdk.UnmarshalScheduleResponse(r.Marshal()); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzUnmarshalAllocateRequest(f *testing.F) {
	f.Add((&sdk.AllocateRequest{Networks: []sdk.Network{{ID: "n", Subnet: "10.0.0.0/24"}},
		Addresses: []sdk.AddressRequest{{ID: "t", NetworkID: "n"}}, Ports: []sdk.PortRequest{{ID: "p", Protocol: "tcp"}}}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := sdk.UnmarshalAllocateRequest(b)
		if err != nil {
			return
		}
		if _, err := sdk.UnmarshalAllocateRequest(r.Marshal()); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzUnmarshalAllocateResponse(f *testing.F) {
	f.Add((&sdk.AllocateResponse{Addresses: []sdk.AddressResult{{Address: "10.0.0.2/24"}}, Ports: []sdk.PortResult{{Port: 30000}}}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := sdk.UnmarshalAllocateResponse(b)
		if err != nil {
			return
		}
		if _, err := sdk.UnmarshalAllocateResponse(r.Marshal()); err != nil {
			t.Fatal(err)
		}
	})
}
