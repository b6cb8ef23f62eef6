// Package network holds a node's cluster-network plumbing: the overlay data
// plane (network/overlay), the embedded DNS server (network/dns) and the
// nftables VIP load balancer (network/lb).
//
// Like runtime/, it is node-local and imports nothing of core, plugins or gen:
// the agent translates its assignments and the gossip table into the plain
// configs these packages take. Each sub-package owns only the kernel objects
// it creates, named with a fixed prefix so a restarted agent can adopt them
// and a cleanup can find every one.
package network
