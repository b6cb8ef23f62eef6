// Package plugins is the manager's WebAssembly plugin host. It owns loading,
// validating, compiling (with an on-disk compilation cache), pooling and
// calling scheduler, allocator and rebalancer plugins built against sdk ABI
// v1, and
// checking their answers before anyone acts on them.
//
// Isolation: by default plugins run in a supervised sandbox child process
// (this same binary re-executed with SHOAL_PLUGIN_SANDBOX=1; main and every
// TestMain that creates a Host must call MaybeRunSandbox first). The child
// runs wazero at full speed, without WithCloseOnContextDone; the host talks
// to it over a pair of pipes with length-prefixed frames and kills and
// restarts it when a call overruns its deadline. A plugin stuck in a loop or
// allocating without bound therefore cannot stall or bloat the manager.
// On Linux the child reserves each guest's linear memory at its maximum
// size in one anonymous mapping outside the Go heap (memory_linux.go), so
// a guest growing its memory copies nothing and starts no collection in
// the child.
// Any trap, timeout or invalid answer discards the instance, is logged and
// counted, and returns a *CallError so the caller falls back to the native
// policy (sdk/policy/...).
//
// Schedule calls carry only what changed in the node table since the
// guest's last call (ABI 1.1) and, for a guest whose answers say its policy
// does not read them, no task IDs (ABI 1.2); see delta.go.
//
// It must not import core/ or gen/: the manager passes sdk types in and gets
// sdk types back. Plugins get no WASI preopens, no environment, no arguments
// and no network.
package plugins
