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
//   - outbound connectivity of bridge-mode containers, as Docker's default bridge
//     has it: net.ipv4.ip_forward on, an iptables nat POSTROUTING MASQUERADE rule for
//     the bridge's subnet to every other output, and FORWARD accept rules when the
//     FORWARD policy is not ACCEPT; every rule is commented shoal:<bridge> and added
//     only when missing (nat.go). Without iptables it warns once and containers reach
//     only this host;
//   - each task's /etc/hostname, and for a bridge-mode task its /etc/hosts (localhost
//     lines and "<address> <hostname>") and /etc/resolv.conf (the host's without
//     loopback or IPv6 nameservers, else 8.8.8.8 and 8.8.4.4), written in the task's
//     state directory before its task is created and bind-mounted; a host-network
//     task gets the host's /etc/hosts and /etc/resolv.conf read-only (etcfiles.go);
//   - cluster networks: a task with TaskSpec.Networks is handed, at Start once its
//     namespace exists, to Config.NetworkHook (the node's network agent), whose
//     resolv.conf (the embedded DNS on 127.0.0.11) replaces the host's; Remove
//     detaches it. A re-adopted running task is handed to it again through
//     ReattachNetworks (runtime.NetworkReattacher), which the agent calls once
//     the node's networks are known. Without a hook such a task is refused at Start;
//   - Teardown: once no container of the node remains, the bridge, its rules, the
//     persisted subnet and allocations and any task directory are removed. Close
//     keeps them all (an agent restart re-adopts its containers);
//   - task logs: each task is created with containerd's binary logging, naming this
//     very executable as the logging binary, so the task's shim starts it (see
//     MaybeRunLogger, which main and every TestMain starting tasks must call) with the
//     task's stdout and stderr pipes. That logger is the shim's child, not the agent's,
//     so output keeps being recorded while the agent is down. It writes
//     runtime/logfile records (write time, stream, line) into
//     <StateDir>/tasks/<id>/task.log and rotates it by size (Config.LogMaxBytes,
//     Config.LogKeep old files); Controller.Logs reads them back (tail, since, follow
//     across rotations), first asking an exited task's logger to drain its pipes
//     (logger.go, logs.go);
//   - health checks (exec inside the container) and OOM reporting (TaskOOM events).
//
// It must not touch anything outside its namespace, its bridge and its rules, its
// StateDir and that lock file — with two host-wide exceptions: it turns IPv4
// forwarding on (and leaves it on), and, when it sets its bridge up under the lock,
// it deletes the shoal:<bridge> rules of bridges that no longer exist (nodes gone
// without Teardown). It knows nothing of the orchestrator: the agent drives it
// through runtime.Controller.
package containerd
