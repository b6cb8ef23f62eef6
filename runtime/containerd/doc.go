// Package containerd is the runtime.Backend that runs container tasks through a
// containerd daemon (1.6 or later, classic APIs only: images, content, snapshots,
// containers, tasks, events — no Transfer or Sandbox services).
//
// It owns, per shoal node (one containerd namespace each):
//   - image pulls (docker resolver; plain HTTP only for Config.InsecureRegistries),
//     de-duplicated per reference, and archive imports (ImportArchive);
//   - containers labelled with the shoal task identity, so List and Controller
//     re-adopt what a previous agent process left running;
//   - the OCI spec built from runtime.TaskSpec (process, user, mounts, resources);
//   - the node-local bridge network: one network namespace, veth pair and address per
//     task, with address allocations persisted in Config.StateDir; the bridge's subnet
//     is one no other interface of the host holds, chosen under a host-wide lock
//     (/run/shoal-bridges.lock) so that several nodes on one machine never share one;
//   - task logs (written by the containerd shim itself, so they survive agent
//     restarts), their rotation and reading;
//   - health checks (exec inside the container) and OOM reporting (TaskOOM events).
//
// It must not touch anything outside its namespace, its bridge, its StateDir and that
// lock file, and it knows nothing of the orchestrator: the agent drives it through
// runtime.Controller.
package containerd
