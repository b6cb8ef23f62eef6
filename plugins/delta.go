package plugins

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/filter"
)

// Node table deltas (ABI 1.1, sdk/ABI.md): the host remembers, per
// scheduler plugin, the node table it last sent and under which
// generation; the next call sends only what changed (sdk.DiffTables). The
// guest answers Resync when it does not hold that generation (a fresh
// instance after a trap or a sandbox restart, another pooled instance, a
// guest error), and the host sends the whole table again in the same
// Schedule. Every failed call, Unload and a guest that does not echo the
// generation (a 1.0 guest) leave nothing remembered: the next call is
// whole.

// Task IDs (ABI 1.2): a guest whose answers say TaskIDsUnused gets its
// groups without task IDs (Count alone) from then on; the host keeps the
// IDs and validates and returns answers by position as before. The mark
// belongs to the module (its digest), so it survives failed calls and
// sandbox restarts, and Unload forgets it.

// ScheduleCallStats counts how schedule calls carried the node table.
type ScheduleCallStats struct {
	// Full calls carried the whole table; Delta calls only the changes.
	Full, Delta uint64
	// Resyncs counts deltas the guest refused (it lacked the base), each
	// followed by a full call.
	Resyncs uint64
	// WithoutTaskIDs counts calls (full or delta) whose groups carried no
	// task IDs (ABI 1.2).
	WithoutTaskIDs uint64
}

// tables holds the node tables the guests hold, by plugin digest. One
// schedule call at a time: the backend serialises calls anyway.
type tables struct {
	mu     sync.Mutex
	gen    uint64
	held   map[string]*hostTable
	noIDs  map[string]bool // digests whose guests do not read task IDs
	stats  ScheduleCallStats
	metric *prometheus.CounterVec // carried: full, delta, resync
}

type hostTable struct {
	gen   uint64
	nodes []sdk.Node // owned: sdk.DiffTables' snapshot
	// source and version stamp nodes when the caller did (rowstamp.go).
	source, version uint64
}

func newTablesMetric(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shoal_plugin_schedule_tables_total",
		Help: "Schedule calls by how they carried the node table: full, delta, or resync (a delta the guest refused, resent full).",
	}, []string{"carried"})
	if reg != nil {
		_ = reg.Register(c)
	}
	return c
}

// ScheduleCalls reports how this host's schedule calls carried the node
// table.
func (h *Host) ScheduleCalls() ScheduleCallStats {
	h.tables.mu.Lock()
	defer h.tables.mu.Unlock()
	return h.tables.stats
}

func (t *tables) forget(sha string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.held, sha)
	delete(t.noIDs, sha)
}

func (t *tables) count(carried string, noIDs bool) {
	if noIDs && carried != "resync" {
		t.stats.WithoutTaskIDs++
	}
	switch carried {
	case "full":
		t.stats.Full++
	case "delta":
		t.stats.Delta++
	case "resync":
		t.stats.Resyncs++
	}
	if t.metric != nil {
		t.metric.WithLabelValues(carried).Inc()
	}
}

func (t *tables) schedule(ctx context.Context, h *Host, sha string, req *sdk.ScheduleRequest) (*sdk.ScheduleResponse, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.held == nil {
		t.held = make(map[string]*hostTable)
		t.noIDs = make(map[string]bool)
	}
	start := time.Now()
	groups, noIDs := req.Groups, t.noIDs[sha]
	if noIDs {
		groups = withoutTaskIDs(groups)
	}
	held := t.held[sha]
	delete(t.held, sha) // until this call succeeds
	t.gen++
	gen := t.gen
	var wire []byte
	var snapshot []sdk.Node
	if held != nil {
		d, inserted, snap := diffHeld(ctx, held, req.Nodes)
		d.Generation, d.BaseGeneration = gen, held.gen
		wire, snapshot = sdk.AppendScheduleCall(nil, inserted, groups, &d), snap
		t.count("delta", noIDs)
	} else {
		wire = sdk.AppendScheduleCall(nil, req.Nodes, groups, &sdk.ScheduleDelta{Generation: gen})
		t.count("full", noIDs)
	}
	resp, err := t.call(ctx, h, sha, wire)
	if err == nil && resp.Resync {
		t.count("resync", noIDs)
		t.count("full", noIDs)
		t.gen++
		gen, snapshot = t.gen, nil
		wire = sdk.AppendScheduleCall(nil, req.Nodes, groups, &sdk.ScheduleDelta{Generation: gen})
		resp, err = t.call(ctx, h, sha, wire)
		if err == nil && resp.Resync {
			err = errorf(ErrInvalidAnswer, "asked to resync a call that carried the whole node table")
		}
	}
	if err == nil {
		if verr := filter.Validate(req, resp); verr != nil {
			err = errorf(ErrInvalidAnswer, "%v", verr)
		}
	}
	if err == nil && resp.TaskIDsUnused {
		t.noIDs[sha] = true
	}
	if err == nil && resp.Generation == gen {
		if snapshot == nil {
			snapshot = sdk.CloneTable(req.Nodes)
		}
		source, version := stampsOf(ctx)
		t.held[sha] = &hostTable{gen: gen, nodes: snapshot, source: source, version: version}
	}
	if resp != nil {
		resp.Resync, resp.Generation, resp.TaskIDsUnused = false, 0, false // transport, not the answer
	}
	return resp, h.finish(opSchedule, sha, start, err)
}

// withoutTaskIDs returns the groups with their task IDs left out, except
// where their number differs from Count: the guest must see that to answer
// "invalid task group" as the native policy does.
func withoutTaskIDs(groups []sdk.TaskGroup) []sdk.TaskGroup {
	out := make([]sdk.TaskGroup, len(groups))
	for i := range groups {
		out[i] = groups[i]
		if len(out[i].TaskIDs) == int(out[i].Count) {
			out[i].TaskIDs = nil
		}
	}
	return out
}

// call runs one schedule call and decodes the answer; an error the plugin
// reported is an error.
func (t *tables) call(ctx context.Context, h *Host, sha string, wire []byte) (*sdk.ScheduleResponse, error) {
	out, err := h.call(ctx, sha, opSchedule, wire)
	if err != nil {
		return nil, err
	}
	resp, err := sdk.UnmarshalScheduleResponse(out)
	switch {
	case err != nil:
		return nil, errorf(ErrInvalidAnswer, "decode: %v", err)
	case resp.Error != "":
		return resp, errorf(ErrPluginFailed, "%s", resp.Error)
	}
	return resp, nil
}
