// Package rowstamp carries, beside a node table sent to a policy, which of
// its rows changed since an earlier table of the same source, so that the
// plugin host, which keeps the table each guest last received, compares
// only those rows instead of every row (2,400 rows with their per-service
// task counts cost milliseconds to compare).
//
// The scheduler stamps its tables (core/scheduler); the plugin host reads
// the stamps from the call's context (plugins). A call without stamps, or
// with stamps of another source, is diffed in full, as before.
package rowstamp

import (
	"context"
	"sync/atomic"
)

// Stamps describe one node table.
type Stamps struct {
	// Source names the table's owner for as long as its versions count
	// (the scheduler's tracker between two full reads of the store). Stamps
	// of different sources do not compare.
	Source uint64
	// Version of this table: higher than that of every table the source
	// stamped before it, and at least every row's stamp.
	Version uint64
	// Layout is the version at which the set or the order of the rows
	// last changed.
	Layout uint64
	// Rows holds, per row of the table, the version at which the row last
	// changed (any field). Read-only.
	Rows []uint64
}

var sources atomic.Uint64

// NewSource returns a source no other caller in this process gets.
func NewSource() uint64 { return sources.Add(1) }

// ChangedSince returns the rows that changed since the table of version v
// of source, in order; ok is false when that cannot be told (another
// source, the rows were added, removed or reordered since, or s is nil).
func (s *Stamps) ChangedSince(source, v uint64) (rows []int, ok bool) {
	if s == nil || source == 0 || s.Source != source || s.Layout > v || v > s.Version {
		return nil, false
	}
	for i, st := range s.Rows {
		if st > v {
			rows = append(rows, i)
		}
	}
	return rows, true
}

type ctxKey struct{}

// NewContext returns ctx carrying s.
func NewContext(ctx context.Context, s *Stamps) context.Context {
	return context.WithValue(ctx, ctxKey{}, s)
}

// FromContext returns the stamps ctx carries, or nil.
func FromContext(ctx context.Context) *Stamps {
	s, _ := ctx.Value(ctxKey{}).(*Stamps)
	return s
}
