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

// ScheduleCallStats counts how schedule calls carried the node table.
type ScheduleCallStats struct {
	// Full calls carried the whole table; Delta calls only the changes.
	Full, Delta uint64
	// Resyncs counts deltas the guest refused (it lacked the base), each
	// followed by a full call.
	Resyncs uint64
}

// tables holds the node tables the guests hold, by plugin digest. One
// schedule call at a time: the backend serialises calls anyway.
type tables struct {
	mu     sync.Mutex
	gen    uint64
	held   map[string]*hostTable
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
}

func (t *tables) count(carried string) {
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
	}
	start := time.Now()
	held := t.held[sha]
	delete(t.held, sha) // until this call succeeds
	t.gen++
	gen := t.gen
	var wire []byte
	var snapshot []sdk.Node
	if held != nil {
		d, inserted, snap := diffHeld(ctx, held, req.Nodes)
		d.Generation, d.BaseGeneration = gen, held.gen
		wire, snapshot = sdk.AppendScheduleCall(nil, inserted, req.Groups, &d), snap
		t.count("delta")
	} else {
		wire = sdk.AppendScheduleCall(nil, req.Nodes, req.Groups, &sdk.ScheduleDelta{Generation: gen})
		t.count("full")
	}
	resp, err := t.call(ctx, h, sha, wire)
	if err == nil && resp.Resync {
		t.count("resync")
		t.count("full")
		t.gen++
		gen, snapshot = t.gen, nil
		wire = sdk.AppendScheduleCall(nil, req.Nodes, req.Groups, &sdk.ScheduleDelta{Generation: gen})
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
	if err == nil && resp.Generation == gen {
		if snapshot == nil {
			snapshot = sdk.CloneTable(req.Nodes)
		}
		source, version := stampsOf(ctx)
		t.held[sha] = &hostTable{gen: gen, nodes: snapshot, source: source, version: version}
	}
	if resp != nil {
		resp.Resync, resp.Generation = false, 0 // transport, not the answer
	}
	return resp, h.finish(opSchedule, sha, start, err)
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
