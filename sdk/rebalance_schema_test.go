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

// TestRebalanceCodecMatchesProtoSchema is TestCodecMatchesProtoSchema for
// the rebalancer's messages.
func TestRebalanceCodecMatchesProtoSchema(t *testing.T) {
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
	through := func(name string, in []byte) []byte {
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
	req := &sdk.RebalanceRequest{
		Nodes: []sdk.Node{{ID: "n1", Hostname: "h1", Ready: true, Kinds: []string{"process"}, TaskCount: 2,
			Labels: map[string]string{"zone": "a"}, ServiceTasks: map[string]uint32{"s": 2}}},
		Group: sdk.TaskGroup{ServiceID: "s", SpecVersion: 2, Count: 2, Kind: "process", Constraints: []string{"node.role==worker"},
			NanoCPUs: 1e8, MemoryBytes: 1 << 20, MaxReplicasPerNode: 3},
		Tasks:    []sdk.RebalanceTask{{ID: "t1", Slot: 1, NodeID: "n1", State: "running"}, {ID: "t2", Slot: 2, State: "pending"}},
		MaxMoves: 4,
	}
	got, err := sdk.UnmarshalRebalanceRequest(through("RebalanceRequest", req.Marshal()))
	if err != nil || !reflect.DeepEqual(req, got) {
		t.Fatalf("RebalanceRequest via the schema:\n got %+v (%v)\nwant %+v", got, err, req)
	}
	resp := &sdk.RebalanceResponse{Moves: []sdk.Move{{TaskID: "t1", TargetNodeID: "n2"}, {TaskID: "t2"}}, Error: "e"}
	gotResp, err := sdk.UnmarshalRebalanceResponse(through("RebalanceResponse", resp.Marshal()))
	if err != nil || !reflect.DeepEqual(resp, gotResp) {
		t.Fatalf("RebalanceResponse via the schema:\n got %+v (%v)\nwant %+v", gotResp, err, resp)
	}
}
