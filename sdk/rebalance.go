package sdk

import "google.golang.org/protobuf/encoding/protowire"

// CapRebalancer means the guest answers shoal_rebalance. A module built
// before the rebalancer kind existed simply lacks the bit and the export.
const CapRebalancer Capability = 1 << 2

// ExportRebalance is the rebalancer entry point (see ABI.md).
const ExportRebalance = "shoal_rebalance"

// RebalanceTask is one live task of the service being rebalanced.
type RebalanceTask struct {
	ID   string
	Slot uint64
	// NodeID is "" for a task not placed yet.
	NodeID string
	// State is the observed state's name: "running", "pending", ...
	State string
}

// RebalanceRequest asks a rebalancer about one service: the node table a
// scheduler sees (TaskCount and ServiceTasks count the live tasks), the
// service described as a scheduler group (constraints, reservations, max
// per node; Count is its number of live tasks) and its live tasks.
type RebalanceRequest struct {
	Nodes []Node
	Group TaskGroup
	Tasks []RebalanceTask
	// MaxMoves is how many moves the host applies at most this pass;
	// proposing more only gets the extra ones rejected.
	MaxMoves uint32
}

// Move asks the host to move one task to TargetNodeID (an ID of the
// request's nodes), or, with TargetNodeID empty, to the eligible node with
// the fewest tasks of the service.
type Move struct {
	TaskID       string
	TargetNodeID string
}

// RebalanceResponse lists the moves a rebalancer proposes; the host
// validates each one and ignores (and counts) the invalid ones.
type RebalanceResponse struct {
	Moves []Move
	// Error is set when the policy failed as a whole.
	Error string
}

// RebalancerFunc is a rebalancing policy: it answers one service.
type RebalancerFunc func(*RebalanceRequest) *RebalanceResponse

var rebalancer RebalancerFunc

// RegisterRebalancer installs the guest's rebalancing policy. Call it from
// an init function of package main.
func RegisterRebalancer(fn RebalancerFunc) { rebalancer = fn }

// HandleRebalance is HandleSchedule for the rebalancer.
func HandleRebalance(in []byte) (out []byte) {
	defer func() {
		if r := recover(); r != nil {
			out = (&RebalanceResponse{Error: panicMessage(r)}).Marshal()
		}
	}()
	if rebalancer == nil {
		return (&RebalanceResponse{Error: "no rebalancer registered"}).Marshal()
	}
	req, err := UnmarshalRebalanceRequest(in)
	if err != nil {
		return (&RebalanceResponse{Error: "decode request: " + err.Error()}).Marshal()
	}
	resp := rebalancer(req)
	if resp == nil {
		return (&RebalanceResponse{Error: "rebalancer returned nil"}).Marshal()
	}
	return resp.Marshal()
}

// Marshal encodes the request in the ABI wire format.
func (r *RebalanceRequest) Marshal() []byte {
	var b []byte
	for i := range r.Nodes {
		b = appendMessage(b, 1, r.Nodes[i].appendMarshal)
	}
	b = appendMessage(b, 2, r.Group.appendMarshal)
	for i := range r.Tasks {
		t := &r.Tasks[i]
		b = appendMessage(b, 3, func(b []byte) []byte {
			b = appendString(b, 1, t.ID)
			b = appendVarint(b, 2, t.Slot)
			b = appendString(b, 3, t.NodeID)
			return appendString(b, 4, t.State)
		})
	}
	return appendVarint(b, 4, uint64(r.MaxMoves))
}

// UnmarshalRebalanceRequest decodes a request. Unknown fields are skipped.
func UnmarshalRebalanceRequest(b []byte) (*RebalanceRequest, error) {
	return decodeMessage(b, func(r *RebalanceRequest, d *decoder, num protowire.Number, typ protowire.Type) bool {
		switch num {
		case 1:
			var n Node
			d.message(typ, n.decode)
			r.Nodes = append(r.Nodes, n)
		case 2:
			d.message(typ, r.Group.decode)
		case 3:
			var t RebalanceTask
			d.message(typ, t.decode)
			r.Tasks = append(r.Tasks, t)
		case 4:
			r.MaxMoves = d.uint32(typ)
		default:
			return false
		}
		return true
	})
}

func (t *RebalanceTask) decode(d *decoder) {
	d.fields(func(num protowire.Number, typ protowire.Type) bool {
		switch num {
		case 1:
			t.ID = d.string(typ)
		case 2:
			t.Slot = d.varint(typ)
		case 3:
			t.NodeID = d.string(typ)
		case 4:
			t.State = d.string(typ)
		default:
			return false
		}
		return true
	})
}

// Marshal encodes the response in the ABI wire format.
func (r *RebalanceResponse) Marshal() []byte {
	var b []byte
	for i := range r.Moves {
		m := &r.Moves[i]
		b = appendMessage(b, 1, func(b []byte) []byte {
			b = appendString(b, 1, m.TaskID)
			return appendString(b, 2, m.TargetNodeID)
		})
	}
	return appendString(b, 2, r.Error)
}

// UnmarshalRebalanceResponse decodes a response. Unknown fields are skipped.
func UnmarshalRebalanceResponse(b []byte) (*RebalanceResponse, error) {
	return decodeMessage(b, func(r *RebalanceResponse, d *decoder, num protowire.Number, typ protowire.Type) bool {
		switch num {
		case 1:
			var m Move
			d.message(typ, func(d *decoder) {
				d.fields(func(num protowire.Number, typ protowire.Type) bool {
					switch num {
					case 1:
						m.TaskID = d.string(typ)
					case 2:
						m.TargetNodeID = d.string(typ)
					default:
						return false
					}
					return true
				})
			})
			r.Moves = append(r.Moves, m)
		case 2:
			r.Error = d.string(typ)
		default:
			return false
		}
		return true
	})
}
