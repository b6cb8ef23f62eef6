// Package process is the runtime backend that runs a task's Command as a plain
// host process.
//
// Every task gets a directory under the backend's state dir
// (<dir>/tasks/<task-id>/). Start launches a tiny detached shim (the same
// binary re-executed with SHOAL_PROCESS_SHIM=<task dir>, see MaybeRunShim) in
// its own session. The shim starts the task's command in its own process
// group, writes the pid to started.json, copies stdout/stderr line by line
// into output.log (runtime/logfile records, rotated by size), and when the
// command exits records the exit code in exit.json and exits itself. The shim
// holds an exclusive flock on shim.lock for its whole life, which is how a
// backend tells a live shim from a dead one without trusting pids.
//
// Because all state lives in files and the shim is not a child of the agent's
// session, a task survives the agent being killed (even with SIGKILL): a new
// Backend on the same dir re-adopts it through Controller, and Wait still
// returns the real exit code.
//
// This package owns the task dirs under its state dir and the processes it
// started there; it never touches anything else on the host. It does not
// isolate processes (no namespaces, cgroups or mounts): Resources, Mounts,
// Hostname, ReadOnlyRootfs, NetworkMode and Healthcheck of a TaskSpec are
// ignored, and so are cluster Networks: a process shares the host's network,
// so its allocated addresses are bookkeeping only (no interface, DNS or VIP;
// the e2e network tests rely on such tasks running). The child's environment
// is exactly TaskSpec.Env plus a default PATH and SHOAL_TASK_* variables;
// nothing of the agent's environment leaks in.
package process
