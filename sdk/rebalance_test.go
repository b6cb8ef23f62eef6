package sdk

import (
	"reflect"
	"testing"
)

func TestRebalanceCodecRoundTrips(t *testing.T) {
	req := &RebalanceRequest{
		Nodes:    []Node{{ID: "n1", Hostname: "h1", Ready: true, Labels: map[string]string{"zone": "a"}, ServiceTasks: map[string]uint32{"s": 2}}},
		Group:    TaskGroup{ServiceID: "s", SpecVersion: 3, Count: 2, Kind: "process", Constraints: []string{"node.role==worker"}},
		Tasks:    []RebalanceTask{{ID: "t1", Slot: 1, NodeID: "n1", State: "running"}, {ID: "t2", Slot: 2, State: "pending"}},
		MaxMoves: 2,
	}
	got, err := UnmarshalRebalanceRequest(req.Marshal())
	if err != nil || !reflect.DeepEqual(got, req) {
		t.Fatalf("request round trip: %+v, %v", got, err)
	}
	resp := &RebalanceResponse{Moves: []Move{{TaskID: "t1", TargetNodeID: "n2"}, {TaskID: "t2"}}, Error: ""}
	gotResp, err := UnmarshalRebalanceResponse(resp.Marshal())
	if err != nil || !reflect.DeepEqual(gotResp, resp) {
		t.Fatalf("response round trip: %+v, %v", gotResp, err)
	}
}

func TestHandleRebalanceRecoversPanics(t *testing.T) {
	defer RegisterRebalancer(nil)
	RegisterRebalancer(func(*RebalanceRequest) *RebalanceResponse { panic("boom") })
	out, err := UnmarshalRebalanceResponse(HandleRebalance((&RebalanceRequest{}).Marshal()))
	if err != nil || out.Error != "panic: boom" {
		t.Fatalf("answer %+v, %v", out, err)
	}
	if Capabilities()&CapRebalancer == 0 {
		t.Fatal("capabilities lack the rebalancer bit with a rebalancer registered")
	}
}
