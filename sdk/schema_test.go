package sdk_test

import (
	"os"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/shoal-project/shoal/sdk"
)

// The hand-written codec must agree with proto/shoal/plugin/v1/abi.proto.
// testdata/abi.binpb is that file compiled by buf:
//
//	buf build --path proto/shoal/plugin/v1 -o sdk/testdata/abi.binpb
//
// Each message is encoded by the sdk, parsed by the real protobuf runtime
// against the schema (no field may be unknown), re-encoded by the runtime
// and decoded by the sdk again.
func TestCodecMatchesProtoSchema(t *testing.T) {
	through := schemaRoundTrip(t)
	sreq := &sdk.ScheduleRequest{
		Nodes: []sdk.Node{{ID: "n1", Hostname: "h1", Ready: true, Availability: sdk.AvailabilityDrain, Role: sdk.RoleManager,
			Kinds: []string{"container", "process"}, TotalNanoCPUs: 4e9, FreeNanoCPUs: 1e9, TotalMemoryBytes: 8 << 30, FreeMemoryBytes: 1 << 30,
			Labels: map[string]string{"zone": "a", "ssd": "yes"}, TaskCount: 7, ServiceTasks: map[string]uint32{"s1": 3, "s2": 4}}},
		Groups: []sdk.TaskGroup{{ServiceID: "s1", SpecVersion: 9, Count: 2, TaskIDs: []string{"t1", "t2"}, Kind: "container",
			Constraints: []string{"node.role==worker"}, NanoCPUs: 5e8, MemoryBytes: 1 << 20, MaxReplicasPerNode: 2,
			Preferences: []string{"node.labels.zone"}}},
	}
	// A delta call (ABI 1.1): the request and its header, decoded together.
	type call struct {
		Req   *sdk.ScheduleRequest
		Delta *sdk.ScheduleDelta
	}
	delta := &sdk.ScheduleDelta{Generation: 12, BaseGeneration: 11, Ops: []int32{3, -1, 0, 2, -4},
		Patches: []sdk.NodePatch{{Index: 4, FreeNanoCPUs: 1e9, FreeMemoryBytes: 1 << 30, TaskCount: 3, ServiceTasks: map[string]uint32{"s1": 2, "s2": 0}}}}
	sresp := &sdk.ScheduleResponse{Groups: []sdk.GroupResult{{Placements: []int32{0, -1, 300, 2},
		Reason: sdk.ReasonNoSuitableNode, Explanation: sdk.Explanation{NotReady: 1, Drained: 2, Paused: 3, KindUnsupported: 4,
			ConstraintMismatch: 5, LacksCPU: 6, LacksMemory: 7, MaxPerNode: 8}, Detail: "d"}}, Error: "e", Resync: true, Generation: 12, TaskIDsUnused: true}
	areq := &sdk.AllocateRequest{
		Networks:  []sdk.Network{{ID: "n", Subnet: "10.0.0.0/24", Gateway: "10.0.0.1", Allocated: []string{"10.0.0.2"}}},
		Addresses: []sdk.AddressRequest{{ID: "t", NetworkID: "n"}},
		Ports:     []sdk.PortRequest{{ID: "p", Protocol: "udp"}},
		UsedPorts: []sdk.UsedPort{{Protocol: "tcp", Port: 30001}}, PortRangeStart: 31000, PortRangeEnd: 32000,
	}
	aresp := &sdk.AllocateResponse{Addresses: []sdk.AddressResult{{Address: "10.0.0.3/24"}, {Code: sdk.AllocPoolExhausted}},
		Ports: []sdk.PortResult{{Port: 31000}, {Code: sdk.AllocPortsExhausted}}, Error: "x"}
	rreq := &sdk.RebalanceRequest{
		Nodes: []sdk.Node{{ID: "n1", Hostname: "h1", Ready: true, Kinds: []string{"process"}, TaskCount: 2,
			Labels: map[string]string{"zone": "a"}, ServiceTasks: map[string]uint32{"s": 2}}},
		Group: sdk.TaskGroup{ServiceID: "s", SpecVersion: 2, Count: 2, Kind: "process", Constraints: []string{"node.role==worker"},
			NanoCPUs: 1e8, MemoryBytes: 1 << 20, MaxReplicasPerNode: 3},
		Tasks:    []sdk.RebalanceTask{{ID: "t1", Slot: 1, NodeID: "n1", State: "running"}, {ID: "t2", Slot: 2, State: "pending"}},
		MaxMoves: 4,
	}
	rresp := &sdk.RebalanceResponse{Moves: []sdk.Move{{TaskID: "t1", TargetNodeID: "n2"}, {TaskID: "t2"}}, Error: "e"}

	for _, tt := range []struct {
		name, message string
		in            any
		wire          []byte
		decode        func([]byte) (any, error)
	}{
		{"schedule request", "ScheduleRequest", sreq, sreq.Marshal(),
			func(b []byte) (any, error) { return sdk.UnmarshalScheduleRequest(b) }},
		{"schedule delta call", "ScheduleRequest", call{sreq, delta}, sdk.AppendScheduleCall(nil, sreq.Nodes, sreq.Groups, delta),
			func(b []byte) (any, error) { r, d, err := sdk.UnmarshalScheduleCall(b); return call{r, d}, err }},
		{"schedule response", "ScheduleResponse", sresp, sresp.Marshal(),
			func(b []byte) (any, error) { return sdk.UnmarshalScheduleResponse(b) }},
		{"allocate request", "AllocateRequest", areq, areq.Marshal(),
			func(b []byte) (any, error) { return sdk.UnmarshalAllocateRequest(b) }},
		{"allocate response", "AllocateResponse", aresp, aresp.Marshal(),
			func(b []byte) (any, error) { return sdk.UnmarshalAllocateResponse(b) }},
		{"rebalance request", "RebalanceRequest", rreq, rreq.Marshal(),
			func(b []byte) (any, error) { return sdk.UnmarshalRebalanceRequest(b) }},
		{"rebalance response", "RebalanceResponse", rresp, rresp.Marshal(),
			func(b []byte) (any, error) { return sdk.UnmarshalRebalanceResponse(b) }},
	} {
		got, err := tt.decode(through(tt.message, tt.wire))
		if err != nil || !reflect.DeepEqual(tt.in, got) {
			t.Errorf("%s via the schema:\n got %+v (%v)\nwant %+v", tt.name, got, err, tt.in)
		}
	}
}

// schemaRoundTrip loads testdata/abi.binpb and returns a function that
// parses an encoding as message name of the schema (failing on unknown
// fields) and re-encodes it with the protobuf runtime.
func schemaRoundTrip(t *testing.T) func(name string, in []byte) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/abi.binpb")
	if err != nil {
		t.Fatal(err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		t.Fatal(err)
	}
	return func(name string, in []byte) []byte {
		t.Helper()
		d, err := files.FindDescriptorByName(protoreflect.FullName("shoal.plugin.v1." + name))
		if err != nil {
			t.Fatal(err)
		}
		m := dynamicpb.NewMessage(d.(protoreflect.MessageDescriptor))
		if err := proto.Unmarshal(in, m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkNoUnknown(t, name, m)
		out, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

func checkNoUnknown(t *testing.T, path string, m protoreflect.Message) {
	t.Helper()
	if len(m.GetUnknown()) > 0 {
		t.Fatalf("%s: fields unknown to the schema: %x", path, m.GetUnknown())
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				checkNoUnknown(t, path+"."+string(fd.Name()), v.List().Get(i).Message())
			}
		case fd.IsMap():
		case fd.Message() != nil:
			checkNoUnknown(t, path+"."+string(fd.Name()), v.Message())
		}
		return true
	})
}
