package sdk

// SchedulerFunc is a scheduling policy: it answers one batch.
type SchedulerFunc func(*ScheduleRequest) *ScheduleResponse

// AllocatorFunc is an allocation policy: it answers one batch.
type AllocatorFunc func(*AllocateRequest) *AllocateResponse

var (
	scheduler SchedulerFunc
	allocator AllocatorFunc
)

// RegisterScheduler installs the guest's scheduling policy. Call it from an
// init function of package main: a module built with -buildmode=c-shared
// runs init functions but never main.
func RegisterScheduler(fn SchedulerFunc) { scheduler = fn }

// RegisterAllocator installs the guest's allocation policy. Call it from an
// init function of package main.
func RegisterAllocator(fn AllocatorFunc) { allocator = fn }

// Capabilities reports the capability mask of what has been registered.
func Capabilities() Capability {
	var c Capability
	if scheduler != nil {
		c |= CapScheduler
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
	req, err := UnmarshalScheduleRequest(in)
	if err != nil {
		return (&ScheduleResponse{Error: "decode request: " + err.Error()}).Marshal()
	}
	resp := scheduler(req)
	if resp == nil {
		return (&ScheduleResponse{Error: "scheduler returned nil"}).Marshal()
	}
	return resp.Marshal()
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
