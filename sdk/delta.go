package sdk

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// Schedule deltas (ABI 1.1, see ABI.md "Node table deltas"): a guest built
// with this sdk keeps the node table between calls, and the host sends only
// what changed since the generation the guest holds. The policy still gets
// a whole ScheduleRequest; all of this happens in the sdk and the host.

// ErrBadDelta is returned (wrapped) by ApplyDelta for a delta that does not
// fit the table it is applied to.
var ErrBadDelta = errors.New("sdk: delta does not fit the node table")

// ScheduleDelta is the delta header of a schedule call. With BaseGeneration
// 0 the call carries the whole table; otherwise Ops and Patches turn the
// table at BaseGeneration into the call's, whose inserted rows are the
// request's Nodes.
type ScheduleDelta struct {
	// Generation names the table this call describes; 0: the host keeps no
	// table for the guest (a v1 call).
	Generation uint64
	// BaseGeneration is the generation the delta applies to; 0: a full
	// table.
	BaseGeneration uint64
	// Ops build the new table from the old one, in order: n > 0 copies
	// the next n old rows, n < 0 skips -n old rows, 0 inserts the next
	// inserted row. Old rows left after the last op are copied.
	Ops []int32
	// Patches set the counters of rows of the new table, after Ops.
	Patches []NodePatch
}

// NodePatch sets the changing counters of one row.
type NodePatch struct {
	// Index of the row in the new table.
	Index           uint32
	FreeNanoCPUs    int64
	FreeMemoryBytes int64
	TaskCount       uint32
	// ServiceTasks holds the services whose count changed; 0 removes one.
	ServiceTasks map[string]uint32
}

// AppendScheduleCall appends a schedule call: the rows (the whole table, or
// the inserted rows of a delta), the groups and the delta header.
func AppendScheduleCall(b []byte, rows []Node, groups []TaskGroup, d *ScheduleDelta) []byte {
	b = (&ScheduleRequest{Nodes: rows, Groups: groups}).AppendMarshal(b)
	if d == nil {
		return b
	}
	b = appendVarint(b, 150, d.Generation)
	b = appendVarint(b, 151, d.BaseGeneration)
	b = appendPackedSint32(b, 152, d.Ops)
	for i := range d.Patches {
		b = appendMessage(b, 153, d.Patches[i].appendMarshal)
	}
	return b
}

func (p *NodePatch) appendMarshal(b []byte) []byte {
	b = appendVarint(b, 1, uint64(p.Index))
	b = appendVarint(b, 2, uint64(p.FreeNanoCPUs))
	b = appendVarint(b, 3, uint64(p.FreeMemoryBytes))
	b = appendVarint(b, 4, uint64(p.TaskCount))
	for _, k := range sortedKeys(p.ServiceTasks) {
		v := p.ServiceTasks[k]
		b = appendMessage(b, 5, func(b []byte) []byte {
			b = appendString(b, 1, k)
			return appendVarint(b, 2, uint64(v))
		})
	}
	return b
}

func (p *NodePatch) decode(d *decoder) {
	d.fields(func(num protowire.Number, typ protowire.Type) bool {
		switch num {
		case 1:
			p.Index = d.uint32(typ)
		case 2:
			p.FreeNanoCPUs = d.int64(typ)
		case 3:
			p.FreeMemoryBytes = d.int64(typ)
		case 4:
			p.TaskCount = d.uint32(typ)
		case 5:
			var v uint32
			k := d.mapEntry(typ, func(e *decoder, t protowire.Type) { v = e.uint32(t) })
			if p.ServiceTasks == nil {
				p.ServiceTasks = make(map[string]uint32)
			}
			p.ServiceTasks[k] = v
		default:
			return false
		}
		return true
	})
}

// UnmarshalScheduleCall decodes a schedule call: the request (whose Nodes
// are the inserted rows when the delta has a base) and its delta header.
func UnmarshalScheduleCall(b []byte) (*ScheduleRequest, *ScheduleDelta, error) {
	r := &ScheduleRequest{}
	dl := &ScheduleDelta{}
	d := immutableDecoder(b)
	d.fields(func(num protowire.Number, typ protowire.Type) bool {
		if r.decodeField(&d, num, typ) {
			return true
		}
		switch num {
		case 150:
			dl.Generation = d.varint(typ)
		case 151:
			dl.BaseGeneration = d.varint(typ)
		case 152:
			dl.Ops = d.sint32s(typ, dl.Ops)
		case 153:
			var p NodePatch
			d.message(typ, p.decode)
			dl.Patches = append(dl.Patches, p)
		default:
			return false
		}
		return true
	})
	if d.err != nil {
		return nil, nil, d.err
	}
	return r, dl, nil
}

// ApplyDelta builds the table a delta describes from old, the table at its
// base generation, and inserted, the call's rows. Rows of old are reused
// (their maps too, and patches change those maps in place): the caller
// gives old up. It returns ErrBadDelta for ops or patches out of range.
func ApplyDelta(old, inserted []Node, d *ScheduleDelta) ([]Node, error) {
	table, _, err := applyDelta(old, inserted, d)
	return table, err
}

// applyDelta is ApplyDelta that also says which rows changed: Same when
// every old row kept its index (rows replaced in place count as changed).
func applyDelta(old, inserted []Node, d *ScheduleDelta) ([]Node, TableChanges, error) {
	table, ch := old, TableChanges{Same: true}
	if len(d.Ops) > 0 {
		var err error
		if table, err = applyOps(old, inserted, d.Ops, &ch); err != nil {
			return nil, TableChanges{}, err
		}
	} else if len(inserted) > 0 {
		return nil, TableChanges{}, fmt.Errorf("%w: %d rows without an insert op", ErrBadDelta, len(inserted))
	}
	for i := range d.Patches {
		p := &d.Patches[i]
		if int(p.Index) >= len(table) {
			return nil, TableChanges{}, fmt.Errorf("%w: patch of row %d of %d", ErrBadDelta, p.Index, len(table))
		}
		applyPatch(&table[p.Index], p)
		ch.Rows = append(ch.Rows, int(p.Index))
	}
	if !ch.Same {
		return table, TableChanges{}, nil
	}
	slices.Sort(ch.Rows)
	ch.Rows = slices.Compact(ch.Rows)
	return table, ch, nil
}

// applyOps rebuilds the row order (see ScheduleDelta.Ops), recording
// inserted rows in ch and clearing ch.Same when an old row moves.
func applyOps(old, inserted []Node, ops []int32, ch *TableChanges) ([]Node, error) {
	table := make([]Node, 0, len(old)+len(inserted))
	oi, ii := 0, 0
	for _, op := range ops {
		switch {
		case op > 0:
			if oi+int(op) > len(old) {
				return nil, fmt.Errorf("%w: copies old rows %d..%d of %d", ErrBadDelta, oi, oi+int(op), len(old))
			}
			ch.Same = ch.Same && len(table) == oi
			table = append(table, old[oi:oi+int(op)]...)
			oi += int(op)
		case op < 0:
			if oi-int(op) > len(old) {
				return nil, fmt.Errorf("%w: skips old rows %d..%d of %d", ErrBadDelta, oi, oi-int(op), len(old))
			}
			oi -= int(op)
		default:
			if ii >= len(inserted) {
				return nil, fmt.Errorf("%w: inserts row %d of %d", ErrBadDelta, ii, len(inserted))
			}
			ch.Rows = append(ch.Rows, len(table))
			table = append(table, inserted[ii])
			ii++
		}
	}
	if oi < len(old) {
		ch.Same = ch.Same && len(table) == oi
		table = append(table, old[oi:]...)
	}
	if ii != len(inserted) {
		return nil, fmt.Errorf("%w: %d inserted rows, %d used", ErrBadDelta, len(inserted), ii)
	}
	ch.Same = ch.Same && len(table) == len(old)
	return table, nil
}

func applyPatch(n *Node, p *NodePatch) {
	n.FreeNanoCPUs, n.FreeMemoryBytes, n.TaskCount = p.FreeNanoCPUs, p.FreeMemoryBytes, p.TaskCount
	for k, v := range p.ServiceTasks {
		if v == 0 {
			delete(n.ServiceTasks, k)
			continue
		}
		if n.ServiceTasks == nil {
			n.ServiceTasks = make(map[string]uint32)
		}
		n.ServiceTasks[k] = v
	}
}

// DiffTables computes the delta that turns prev into cur (Ops, Patches and
// the rows to insert; the caller sets the generations) and a copy of cur
// that stays valid when the caller changes cur afterwards: unchanged rows
// are prev's, changed rows have their maps cloned. prev must not change
// while it is the base of a delta.
func DiffTables(prev, cur []Node) (d ScheduleDelta, inserted []Node, snapshot []Node) {
	at := make(map[string]int, len(prev))
	for j := range prev {
		at[prev[j].ID] = j
	}
	snapshot = make([]Node, len(cur))
	oi := 0
	run := int32(0) // pending copy run
	flush := func() {
		if run > 0 {
			d.Ops = append(d.Ops, run)
			run = 0
		}
	}
	for i := range cur {
		c := &cur[i]
		j, ok := at[c.ID]
		if ok && j >= oi && sameStatic(&prev[j], c) {
			if j > oi {
				flush()
				d.Ops = append(d.Ops, -int32(j-oi))
			}
			run++
			oi = j + 1
			p := &prev[j]
			if sameCounters(p, c) {
				snapshot[i] = *p
				continue
			}
			d.Patches = append(d.Patches, patchOf(uint32(i), p, c))
			snapshot[i] = cloneRow(c)
			continue
		}
		flush()
		if ok && j >= oi {
			// Changed beyond its counters: drop the old row, insert the new.
			if j > oi {
				d.Ops = append(d.Ops, -int32(j-oi))
			}
			d.Ops = append(d.Ops, -1)
			oi = j + 1
		}
		d.Ops = append(d.Ops, 0)
		inserted = append(inserted, *c)
		snapshot[i] = cloneRow(c)
	}
	flush()
	if oi < len(prev) {
		d.Ops = append(d.Ops, -int32(len(prev)-oi))
	}
	if len(d.Ops) == 1 && d.Ops[0] == int32(len(prev)) && len(prev) == len(cur) {
		d.Ops = nil // the same rows: copying everything is the default
	}
	return d, inserted, snapshot
}

// CloneTable copies a table so that later changes to rows (their maps)
// do not reach the copy.
func CloneTable(nodes []Node) []Node {
	out := make([]Node, len(nodes))
	for i := range nodes {
		out[i] = cloneRow(&nodes[i])
	}
	return out
}

func cloneRow(n *Node) Node {
	c := *n
	c.Kinds = slices.Clone(n.Kinds)
	c.Labels = maps.Clone(n.Labels)
	c.ServiceTasks = maps.Clone(n.ServiceTasks)
	return c
}

func sameStatic(a, b *Node) bool {
	return a.ID == b.ID && a.Hostname == b.Hostname && a.Ready == b.Ready &&
		a.Availability == b.Availability && a.Role == b.Role &&
		a.TotalNanoCPUs == b.TotalNanoCPUs && a.TotalMemoryBytes == b.TotalMemoryBytes &&
		slices.Equal(a.Kinds, b.Kinds) && maps.Equal(a.Labels, b.Labels)
}

func sameCounters(a, b *Node) bool {
	if a.FreeNanoCPUs != b.FreeNanoCPUs || a.FreeMemoryBytes != b.FreeMemoryBytes || a.TaskCount != b.TaskCount {
		return false
	}
	// maps.Equal looks each service up once; a zero count against a
	// missing one compares unequal, which only costs a needless patch.
	return maps.Equal(a.ServiceTasks, b.ServiceTasks)
}

func patchOf(i uint32, prev, cur *Node) NodePatch {
	p := NodePatch{Index: i, FreeNanoCPUs: cur.FreeNanoCPUs, FreeMemoryBytes: cur.FreeMemoryBytes, TaskCount: cur.TaskCount}
	for k, v := range cur.ServiceTasks {
		if prev.ServiceTasks[k] != v {
			if p.ServiceTasks == nil {
				p.ServiceTasks = make(map[string]uint32)
			}
			p.ServiceTasks[k] = v
		}
	}
	for k, v := range prev.ServiceTasks {
		if _, ok := cur.ServiceTasks[k]; !ok && v != 0 {
			if p.ServiceTasks == nil {
				p.ServiceTasks = make(map[string]uint32)
			}
			p.ServiceTasks[k] = 0
		}
	}
	return p
}
