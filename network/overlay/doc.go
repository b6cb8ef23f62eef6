// Package overlay is the VXLAN data plane of a node: for each cluster network
// with local tasks it keeps a sandbox network namespace holding a Linux bridge
// and a VXLAN device, a veth pair per task endpoint, and the forwarding (FDB)
// and neighbour entries that make remote tasks reachable.
//
// # Layout
//
// Per network, in the sandbox namespace <SandboxPrefix><first 12 chars of the
// network ID> (default prefix "shoal-ov-"):
//
//	br0     the bridge; holds the gateway address when the network has one
//	vxlan0  VNI of the network, learning off, ARP proxy on; created in the
//	        host namespace bound to the underlay address and link, then moved
//	        in, so its UDP socket stays in the host namespace
//	vt<hash> one veth end per task endpoint, enslaved to br0; the other end
//	        lives in the task's namespace (eth1, eth2, ... or a given name)
//	        with the task's address and a MAC derived from it (02:42:<IPv4>)
//
// Remote attachments are programmed on vxlan0: an FDB entry (task MAC ->
// remote node's underlay address) and a permanent neighbour entry (task IP ->
// MAC) that the ARP proxy answers from, so nothing is flooded over the
// underlay.
//
// # Why a namespace of its own
//
// A sandbox per network, as swarm does, keeps overlay subnets out of the
// host's routing table: two networks may use overlapping subnets, a task
// subnet can never shadow a host route, and host firewall rules never see
// overlay frames. Removing a network is deleting one namespace.
//
// # State and restarts
//
// The kernel holds the state. Every name is derived from the network or task
// ID, so a new Manager (after an agent restart) finds and adopts the devices
// of the previous one; every call is idempotent. Networks and Endpoints list
// what is there from the devices' aliases (the full IDs). Cleanup removes every
// sandbox namespace with the prefix and any VXLAN device left in the host
// namespace by a crash between creating and moving it.
//
// # Threads and namespaces
//
// Netlink calls go through handles bound to a namespace (a socket opened in
// it), so almost no thread ever switches namespace. The two exceptions,
// creating a namespace and the tests' sockets in a task namespace, run on a
// fresh goroutine locked to its OS thread; if that thread cannot be moved
// back to its namespace it stays locked, and the Go runtime ends it with the
// goroutine instead of reusing it.
//
// The package imports nothing of core. It needs root (CAP_NET_ADMIN and
// CAP_SYS_ADMIN) on Linux.
package overlay
