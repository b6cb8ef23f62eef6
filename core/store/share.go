package store

import (
	"bytes"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"google.golang.org/protobuf/proto"
)

// sharedSpec is the TaskSpec the decoded tasks of one service share, with
// its deterministic encoding to compare a decoded spec against (a byte
// comparison costs a fraction of proto.Equal's reflection).
type sharedSpec struct {
	spec    *shoalv1.TaskSpec
	version uint64
	wire    []byte
}

var specWire = proto.MarshalOptions{Deterministic: true}

// shareDecoded makes a task the store decoded itself (a follower's entry, a
// replay, a snapshot) point at the parts it has in common with objects
// already stored, as the leader's own objects do: the TaskSpec of its
// service's other tasks, and the ID strings. Decoding gives every task its
// own copy of them, and 100,000 copies of a TaskSpec cost about 0.9 KiB
// each (BenchmarkStoreMemory/follower). Only values with the same encoding
// are shared, so the state is the same as without it; t must be the
// store's own (freshly decoded, not yet stored) object.
func (st *state) shareDecoded(t *shoalv1.Task, cur *shoalv1.Task) {
	if cur != nil {
		t.Id = cur.Id
		if t.ServiceId == cur.ServiceId {
			t.ServiceId = cur.ServiceId
		}
		if t.ServiceName == cur.ServiceName {
			t.ServiceName = cur.ServiceName
		}
		if t.Scheduler == cur.Scheduler {
			t.Scheduler = cur.Scheduler
		}
	} else if svc, _ := st.get(KindService, t.ServiceId).(*shoalv1.Service); svc != nil {
		t.ServiceId = svc.Id
		if name := svc.GetSpec().GetName(); t.ServiceName == name {
			t.ServiceName = name
		}
	}
	if t.NodeId != "" {
		if cur != nil && t.NodeId == cur.NodeId {
			t.NodeId = cur.NodeId
		} else if n := st.get(KindNode, t.NodeId); n != nil {
			t.NodeId = n.GetId()
		}
	}
	if t.Spec != nil && t.ServiceId != "" {
		st.shareSpec(t, cur)
	}
}

// shareSpec replaces t.Spec with the service's shared spec of the same
// version and encoding, adopting cur's spec (or else the service's
// template) as the shared one when none is known yet.
func (st *state) shareSpec(t *shoalv1.Task, cur *shoalv1.Task) {
	if st.specs == nil {
		st.specs = make(map[string]*sharedSpec)
	}
	s := st.specs[t.ServiceId]
	if s == nil || s.version != t.SpecVersion {
		var cand *shoalv1.TaskSpec
		if cur != nil && cur.SpecVersion == t.SpecVersion && cur.Spec != nil {
			cand = cur.Spec
		} else if svc, _ := st.get(KindService, t.ServiceId).(*shoalv1.Service); svc != nil && svc.SpecVersion == t.SpecVersion {
			cand = svc.GetSpec().GetTask()
		}
		if cand == nil {
			return
		}
		wire, err := specWire.Marshal(cand)
		if err != nil {
			return
		}
		s = &sharedSpec{spec: cand, version: t.SpecVersion, wire: wire}
		st.specs[t.ServiceId] = s
	}
	if t.Spec == s.spec {
		return
	}
	wire, err := specWire.Marshal(t.Spec)
	if err == nil && bytes.Equal(wire, s.wire) {
		t.Spec = s.spec
	}
}
