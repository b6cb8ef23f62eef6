// Package lb load-balances service VIPs with nftables inside a client task's network
// namespace, as swarm mode does: a connection to VIP:port is DNATed on the client's
// side to one of the service's healthy tasks, so the reply comes back through the
// same conntrack entry and needs no return route on the backend.
//
// It owns one nftables table, shoal-lb (family ip), in each namespace it is given:
// a nat chain on the output hook with one rule per VIP, port and protocol,
// "numgen inc mod N" looked up in an anonymous map to the N backends' address and
// port (kube-proxy's nftables mode spreads the same way). A service with no port list
// balances every port and protocol of its VIP as swarm mode does: one rule per VIP maps
// the address only ("dnat to numgen inc mod N map { i : backend_i }"), keeping the
// destination port. A VIP port with no backend
// is rejected (TCP reset, ICMP port unreachable) by a filter chain on the same hook,
// so that clients see a refusal at once instead of a hang. Every Sync replaces the whole table in one nftables
// transaction: a client never sees a half-programmed table, and established
// TCP connections keep their conntrack mapping; the UDP flows of a removed
// backend are deleted from conntrack, so the next datagram of the same flow
// goes to a backend that is still there (conntrack.go).
//
// Mesh is the other use of the same rules: a node's published ports (the routing
// mesh). It owns the table shoal-ingress in the node's own namespace: nat chains on
// prerouting and output DNAT "fib daddr type local, port P" to the service's tasks
// (numgen map of address . target port), and a postrouting chain masquerades what
// leaves through the node's ingress interface, so replies return through this node.
//
// It must not touch anything else in the namespace (routes, links, other tables; Mesh
// turns on net.ipv4.ip_forward, which the mesh needs, and leaves it on), and imports
// nothing of core.
package lb
