package sdk

// ABIVersion is the version of the plugin ABI this SDK speaks. A guest
// reports it from the export shoal_abi_version; the host refuses a module
// whose version differs.
const ABIVersion uint32 = 1

// ABIMinor is the revision of ABI version 1 this SDK implements. 1.1 adds
// node table deltas to shoal_schedule (see ABI.md); a 1.0 guest keeps
// working, it just gets the whole table on every call. 1.2 lets a guest
// whose policy does not read task IDs get groups without them.
const ABIMinor uint32 = 2

// Capability is a bit in the mask a guest returns from shoal_capabilities.
type Capability uint32

const (
	// CapScheduler means the guest answers shoal_schedule.
	CapScheduler Capability = 1 << 0
	// CapAllocator means the guest answers shoal_allocate.
	CapAllocator Capability = 1 << 1
	// CapScheduleDelta (ABI 1.1) means the guest keeps the node table
	// between shoal_schedule calls and takes deltas. Informational: the
	// host turns deltas on when the guest echoes a call's generation.
	CapScheduleDelta Capability = 1 << 16
	// CapTaskIDsUnused (ABI 1.2) means the guest's scheduling policy does
	// not read TaskGroup.TaskIDs (sdk.TaskIDsUnused). Informational: the
	// host leaves the IDs out once an answer says so
	// (ScheduleResponse.TaskIDsUnused).
	CapTaskIDsUnused Capability = 1 << 17
)

// Names of the functions a guest exports (see ABI.md).
const (
	ExportABIVersion   = "shoal_abi_version"
	ExportCapabilities = "shoal_capabilities"
	ExportAlloc        = "shoal_alloc"
	ExportSchedule     = "shoal_schedule"
	ExportAllocate     = "shoal_allocate"
	ExportInitialize   = "_initialize"
)

// PackResult packs a guest pointer and length into the uint64 returned by
// shoal_schedule and shoal_allocate: pointer in the high 32 bits, length in
// the low 32 bits.
func PackResult(ptr, length uint32) uint64 { return uint64(ptr)<<32 | uint64(length) }

// UnpackResult is the inverse of PackResult.
func UnpackResult(v uint64) (ptr, length uint32) { return uint32(v >> 32), uint32(v) }
