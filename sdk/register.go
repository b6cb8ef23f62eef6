package sdk

// SchedulerFunc is a scheduling policy: it answers one batch.
type SchedulerFunc func(*ScheduleRequest) *ScheduleResponse

// AllocatorFunc is an allocation policy: it answers one batch.
type AllocatorFunc func(*AllocateRequest) *AllocateResponse

var (
	scheduler SchedulerFunc
	// kept is the registered scheduler when it keeps state between calls
	// (RegisterKeptScheduler); scheduler then calls it with a whole-table
	// change.
	kept      KeptSchedulerFunc
	allocator AllocatorFunc
	// taskIDsUnused: the registered scheduler does not read TaskIDs.
	taskIDsUnused bool
)

// SchedulerOption is an option of RegisterScheduler.
type SchedulerOption func(*schedulerOptions)

type schedulerOptions struct{ taskIDsUnused bool }

// TaskIDsUnused declares that the policy never reads TaskGroup.TaskIDs
// (it places Count tasks and answers by position): the host then leaves
// the IDs out of its calls (ABI 1.2), which for 100,000 tasks saves
// encoding, piping and decoding 1.5 MB per call. The policy sees TaskIDs
// empty on those calls.
func TaskIDsUnused() SchedulerOption {
	return func(o *schedulerOptions) { o.taskIDsUnused = true }
}

// RegisterScheduler installs the guest's scheduling policy. Call it from an
// init function of package main: a module built with -buildmode=c-shared
// runs init functions but never main.
func RegisterScheduler(fn SchedulerFunc, opts ...SchedulerOption) {
	var o schedulerOptions
	for _, opt := range opts {
		opt(&o)
	}
	scheduler, kept, taskIDsUnused = fn, nil, o.taskIDsUnused
}

// KeptSchedulerFunc is a scheduling policy that keeps state derived from
// the node table (per-node arrays, per-service counts, filter results)
// between calls: ch says which rows changed since the table of its last
// call. It must answer exactly as it would from scratch.
type KeptSchedulerFunc func(req *ScheduleRequest, ch TableChanges) *ScheduleResponse

// TableChanges says how a call's node table differs from the table of the
// policy's previous call in this guest (ABI 1.1 deltas).
type TableChanges struct {
	// Same is true when the table has the previous call's rows in the same
	// order and only Rows changed. False on a guest's first call, on a
	// whole table (after a resync, a sandbox restart, a plugin swap or any
	// failed call) and when rows were added, removed or moved: derived
	// state must then be rebuilt from the table.
	Same bool
	// Rows lists, in increasing order, the rows that changed (any field)
	// when Same is true.
	Rows []int
}

// RegisterKeptScheduler installs a scheduling policy that keeps state
// between calls (see KeptSchedulerFunc). Call it from an init function of
// package main, like RegisterScheduler.
func RegisterKeptScheduler(fn KeptSchedulerFunc, opts ...SchedulerOption) {
	RegisterScheduler(func(req *ScheduleRequest) *ScheduleResponse {
		return fn(req, TableChanges{})
	}, opts...)
	kept = fn
}

// RegisterAllocator installs the guest's allocation policy. Call it from an
// init function of package main.
func RegisterAllocator(fn AllocatorFunc) { allocator = fn }

// Capabilities reports the capability mask of what has been registered.
func Capabilities() Capability {
	var c Capability
	if scheduler != nil {
		c |= CapScheduler | CapScheduleDelta
		if taskIDsUnused {
			c |= CapTaskIDsUnused
		}
	}
	if allocator != nil {
		c |= CapAllocator
	}
	if rebalancer != nil {
		c |= CapRebalancer
	}
	return c
}

// HandleSchedule decodes a request, runs the registered scheduler and
// encodes its answer. Decoding failures, a missing scheduler and panics all
// become an encoded ScheduleResponse with Error set; it never panics. The
// guest exports call it; it is exported so the same path can be tested
// natively.
func HandleSchedule(in []byte) (out []byte) {
	defer func() {
		if r := recover(); r != nil {
			out = (&ScheduleResponse{Error: panicMessage(r)}).Marshal()
		}
	}()
	if scheduler == nil {
		return (&ScheduleResponse{Error: "no scheduler registered"}).Marshal()
	}
	var resp *ScheduleResponse
	if kept != nil {
		resp = guestTable.scheduleKept(in, kept)
	} else {
		resp = guestTable.schedule(in, scheduler)
	}
	if resp == nil {
		return (&ScheduleResponse{Error: "scheduler returned nil"}).Marshal()
	}
	resp.TaskIDsUnused = taskIDsUnused
	return resp.Marshal()
}

// guestTable is the node table this guest keeps between calls (ABI 1.1).
var guestTable heldTable

// heldTable is a guest's node table at a generation (0: none).
type heldTable struct {
	gen   uint64
	nodes []Node
}

// schedule is scheduleKept for a policy that keeps nothing.
func (t *heldTable) schedule(in []byte, fn SchedulerFunc) *ScheduleResponse {
	return t.scheduleKept(in, func(req *ScheduleRequest, _ TableChanges) *ScheduleResponse { return fn(req) })
}

// scheduleKept decodes a call, rebuilds the node table from the held one
// when the call is a delta, runs fn with what changed since the held table
// and keeps the table for the next call. Any failure (including a panic in
// fn, which HandleSchedule recovers) leaves no table held, so the next
// delta is answered with Resync and fn next sees a whole table.
func (t *heldTable) scheduleKept(in []byte, fn KeptSchedulerFunc) *ScheduleResponse {
	req, d, err := UnmarshalScheduleCall(in)
	if err != nil {
		t.gen, t.nodes = 0, nil
		return &ScheduleResponse{Error: "decode request: " + err.Error()}
	}
	var ch TableChanges
	if d.BaseGeneration != 0 {
		if t.gen == 0 || t.gen != d.BaseGeneration {
			t.gen, t.nodes = 0, nil
			return &ScheduleResponse{Resync: true}
		}
		nodes, changes, err := applyDelta(t.nodes, req.Nodes, d)
		if err != nil {
			t.gen, t.nodes = 0, nil
			return &ScheduleResponse{Error: err.Error()}
		}
		req.Nodes, ch = nodes, changes
	}
	// The policy reads the held rows themselves (a policy must not change
	// its request; the native ones do not): copying 2,400 rows per call
	// costs more in a guest than the rest of a one-task call.
	t.gen, t.nodes = 0, nil
	held := req.Nodes
	resp := fn(req, ch)
	if resp != nil && d.Generation != 0 {
		t.gen, t.nodes = d.Generation, held
		resp.Generation = d.Generation
	}
	return resp
}

// HandleAllocate is HandleSchedule for the allocator.
func HandleAllocate(in []byte) (out []byte) {
	defer func() {
		if r := recover(); r != nil {
			out = (&AllocateResponse{Error: panicMessage(r)}).Marshal()
		}
	}()
	if allocator == nil {
		return (&AllocateResponse{Error: "no allocator registered"}).Marshal()
	}
	req, err := UnmarshalAllocateRequest(in)
	if err != nil {
		return (&AllocateResponse{Error: "decode request: " + err.Error()}).Marshal()
	}
	resp := allocator(req)
	if resp == nil {
		return (&AllocateResponse{Error: "allocator returned nil"}).Marshal()
	}
	return resp.Marshal()
}

func panicMessage(r any) string {
	switch v := r.(type) {
	case error:
		return "panic: " + v.Error()
	case string:
		return "panic: " + v
	}
	return "panic in plugin"
}
