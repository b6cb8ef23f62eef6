// Package netagent is the node side of cluster networks: it turns the
// node's assignments (networks with their VIPs, the node's tasks with their
// addresses) and the gossip attachment table into the data plane.
//
// For every network with a running local task it keeps the overlay sandbox
// (bridge + VXLAN) and programs the network's remote peers from the gossip
// table; for every running task it attaches the task's namespace to each of
// its networks, publishes the attachments (network, task address, MAC,
// service and task names) and withdraws them when the task stops; inside
// each attached task's namespace it keeps the DNS records (service VIPs,
// tasks.NAME, task names) and the VIP load-balancing rules current. While
// the node has an ingress address and some service publishes an ingress
// port, it attaches the node's own namespace to the ingress network
// (IngressIface), gossips that address and keeps the node's published
// ports (Mesh) balanced over the services' tasks there (ingress.go).
//
// The Node also keeps the node's WireGuard tunnel (Tunnel, for encrypted
// networks): its peers are the other nodes' keys and endpoints from the
// session messages, and it rotates the tunnel's key every KeyRotation.
//
// One goroutine (Agent.run) owns the state; the planning functions
// (plan.go) are pure so that the reconcile logic is tested without a
// kernel. It reaches the kernel, gossip and the task namespaces only
// through the small interfaces of this package (Dataplane, Gossip,
// TaskNetOpener); the node wires network/overlay, core/gossip,
// network/dns and network/lb into them.
package netagent
