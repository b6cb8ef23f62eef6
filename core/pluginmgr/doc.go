// Package pluginmgr connects the cluster's plugin objects to a manager's
// Wasm plugin host: every manager loads (compiles) every installed module,
// so a new leader is ready at once; it gives the scheduler and allocator the
// policy a name stands for (built-in or installed), the rebalancer its
// rebalancer plugin (rebalance.go), counts each plugin's calls
// and failures, and answers install-time validation and dry runs for the API.
//
// It owns the plugins.Host of its manager. It must not write to the store:
// storing modules is the API's job.
package pluginmgr
