package sdk

import "google.golang.org/protobuf/encoding/protowire"

// Field numbers follow proto/shoal/plugin/v1/abi.proto.

// Marshal encodes the request in the ABI wire format.
func (r *ScheduleRequest) Marshal() []byte { return r.AppendMarshal(nil) }

// AppendMarshal appends the encoding of r to b.
func (r *ScheduleRequest) AppendMarshal(b []byte) []byte {
	for i := range r.Nodes {
		n := &r.Nodes[i]
		b = appendMessage(b, 1, n.appendMarshal)
	}
	for i := range r.Groups {
		g := &r.Groups[i]
		b = appendMessage(b, 2, g.appendMarshal)
	}
	return b
}

func (n *Node) appendMarshal(b []byte) []byte {
	b = appendString(b, 1, n.ID)
	b = appendString(b, 2, n.Hostname)
	b = appendBool(b, 3, n.Ready)
	b = appendVarint(b, 4, uint64(n.Availability))
	b = appendVarint(b, 5, uint64(n.Role))
	b = appendRepeatedString(b, 6, n.Kinds)
	b = appendVarint(b, 7, uint64(n.TotalNanoCPUs))
	b = appendVarint(b, 8, uint64(n.FreeNanoCPUs))
	b = appendVarint(b, 9, uint64(n.TotalMemoryBytes))
	b = appendVarint(b, 10, uint64(n.FreeMemoryBytes))
	for _, k := range sortedKeys(n.Labels) {
		v := n.Labels[k]
		b = appendMessage(b, 11, func(b []byte) []byte {
			b = appendString(b, 1, k)
			return appendString(b, 2, v)
		})
	}
	b = appendVarint(b, 12, uint64(n.TaskCount))
	for _, k := range sortedKeys(n.ServiceTasks) {
		v := n.ServiceTasks[k]
		b = appendMessage(b, 13, func(b []byte) []byte {
			b = appendString(b, 1, k)
			return appendVarint(b, 2, uint64(v))
		})
	}
	return b
}

func (g *TaskGroup) appendMarshal(b []byte) []byte {
	b = appendString(b, 1, g.ServiceID)
	b = appendVarint(b, 2, g.SpecVersion)
	b = appendVarint(b, 3, uint64(g.Count))
	b = appendRepeatedString(b, 4, g.TaskIDs)
	b = appendString(b, 5, g.Kind)
	b = appendRepeatedString(b, 6, g.Constraints)
	b = appendVarint(b, 7, uint64(g.NanoCPUs))
	b = appendVarint(b, 8, uint64(g.MemoryBytes))
	b = appendVarint(b, 9, uint64(g.MaxReplicasPerNode))
	b = appendRepeatedString(b, 10, g.Preferences)
	return b
}

// UnmarshalScheduleRequest decodes a request. Unknown fields are skipped.
func UnmarshalScheduleRequest(b []byte) (*ScheduleRequest, error) {
	return decodeMessage(b, (*ScheduleRequest).decodeField)
}

// decodeField decodes one field of a request; false for a field it does
// not know.
func (r *ScheduleRequest) decodeField(d *decoder, num protowire.Number, typ protowire.Type) bool {
	switch num {
	case 1:
		var n Node
		d.message(typ, n.decode)
		r.Nodes = append(r.Nodes, n)
	case 2:
		var g TaskGroup
		d.message(typ, g.decode)
		r.Groups = append(r.Groups, g)
	default:
		return false
	}
	return true
}

func (n *Node) decode(d *decoder) {
	d.fields(func(num protowire.Number, typ protowire.Type) bool {
		switch num {
		case 1:
			n.ID = d.string(typ)
		case 2:
			n.Hostname = d.string(typ)
		case 3:
			n.Ready = d.varint(typ) != 0
		case 4:
			n.Availability = Availability(d.uint32(typ))
		case 5:
			n.Role = Role(d.uint32(typ))
		case 6:
			n.Kinds = append(n.Kinds, d.string(typ))
		case 7:
			n.TotalNanoCPUs = d.int64(typ)
		case 8:
			n.FreeNanoCPUs = d.int64(typ)
		case 9:
			n.TotalMemoryBytes = d.int64(typ)
		case 10:
			n.FreeMemoryBytes = d.int64(typ)
		case 11:
			var v string
			k := d.mapEntry(typ, func(e *decoder, t protowire.Type) { v = e.string(t) })
			if n.Labels == nil {
				n.Labels = make(map[string]string)
			}
			n.Labels[k] = v
		case 12:
			n.TaskCount = d.uint32(typ)
		case 13:
			var v uint32
			k := d.mapEntry(typ, func(e *decoder, t protowire.Type) { v = e.uint32(t) })
			if n.ServiceTasks == nil {
				n.ServiceTasks = make(map[string]uint32)
			}
			n.ServiceTasks[k] = v
		default:
			return false
		}
		return true
	})
}

func (g *TaskGroup) decode(d *decoder) {
	d.fields(func(num protowire.Number, typ protowire.Type) bool {
		switch num {
		case 1:
			g.ServiceID = d.string(typ)
		case 2:
			g.SpecVersion = d.varint(typ)
		case 3:
			g.Count = d.uint32(typ)
		case 4:
			if g.TaskIDs == nil && g.Count > 0 && g.Count <= 1<<20 {
				g.TaskIDs = make([]string, 0, g.Count) // count precedes the IDs
			}
			g.TaskIDs = append(g.TaskIDs, d.string(typ))
		case 5:
			g.Kind = d.string(typ)
		case 6:
			g.Constraints = append(g.Constraints, d.string(typ))
		case 7:
			g.NanoCPUs = d.int64(typ)
		case 8:
			g.MemoryBytes = d.int64(typ)
		case 9:
			g.MaxReplicasPerNode = d.uint32(typ)
		case 10:
			g.Preferences = append(g.Preferences, d.string(typ))
		default:
			return false
		}
		return true
	})
}

// Marshal encodes the response in the ABI wire format.
func (r *ScheduleResponse) Marshal() []byte { return r.AppendMarshal(nil) }

// AppendMarshal appends the encoding of r to b.
func (r *ScheduleResponse) AppendMarshal(b []byte) []byte {
	for i := range r.Groups {
		g := &r.Groups[i]
		b = appendMessage(b, 1, g.appendMarshal)
	}
	b = appendString(b, 2, r.Error)
	b = appendBool(b, 150, r.Resync)
	b = appendVarint(b, 151, r.Generation)
	b = appendBool(b, 152, r.TaskIDsUnused)
	return b
}

func (g *GroupResult) appendMarshal(b []byte) []byte {
	b = appendPackedSint32(b, 1, g.Placements)
	b = appendVarint(b, 2, uint64(g.Reason))
	if g.Explanation != (Explanation{}) {
		e := g.Explanation
		b = appendMessage(b, 3, e.appendMarshal)
	}
	b = appendString(b, 4, g.Detail)
	return b
}

func (e *Explanation) appendMarshal(b []byte) []byte {
	b = appendVarint(b, 1, uint64(e.NotReady))
	b = appendVarint(b, 2, uint64(e.Drained))
	b = appendVarint(b, 3, uint64(e.Paused))
	b = appendVarint(b, 4, uint64(e.KindUnsupported))
	b = appendVarint(b, 5, uint64(e.ConstraintMismatch))
	b = appendVarint(b, 6, uint64(e.LacksCPU))
	b = appendVarint(b, 7, uint64(e.LacksMemory))
	b = appendVarint(b, 8, uint64(e.MaxPerNode))
	return b
}

// UnmarshalScheduleResponse decodes a response. Unknown fields are skipped.
func UnmarshalScheduleResponse(b []byte) (*ScheduleResponse, error) {
	return decodeMessage(b, func(r *ScheduleResponse, d *decoder, num protowire.Number, typ protowire.Type) bool {
		switch num {
		case 1:
			var g GroupResult
			d.message(typ, g.decode)
			r.Groups = append(r.Groups, g)
		case 2:
			r.Error = d.string(typ)
		case 150:
			r.Resync = d.varint(typ) != 0
		case 151:
			r.Generation = d.varint(typ)
		case 152:
			r.TaskIDsUnused = d.varint(typ) != 0
		default:
			return false
		}
		return true
	})
}

func (g *GroupResult) decode(d *decoder) {
	d.fields(func(num protowire.Number, typ protowire.Type) bool {
		switch num {
		case 1:
			g.Placements = d.sint32s(typ, g.Placements)
		case 2:
			g.Reason = Reason(d.uint32(typ))
		case 3:
			d.message(typ, g.Explanation.decode)
		case 4:
			g.Detail = d.string(typ)
		default:
			return false
		}
		return true
	})
}

func (e *Explanation) decode(d *decoder) {
	d.fields(func(num protowire.Number, typ protowire.Type) bool {
		switch num {
		case 1:
			e.NotReady = d.uint32(typ)
		case 2:
			e.Drained = d.uint32(typ)
		case 3:
			e.Paused = d.uint32(typ)
		case 4:
			e.KindUnsupported = d.uint32(typ)
		case 5:
			e.ConstraintMismatch = d.uint32(typ)
		case 6:
			e.LacksCPU = d.uint32(typ)
		case 7:
			e.LacksMemory = d.uint32(typ)
		case 8:
			e.MaxPerNode = d.uint32(typ)
		default:
			return false
		}
		return true
	})
}
