// Package dns is the embedded DNS server of a task's network namespace (swarm mode's
// 127.0.0.11): it answers the cluster's names and forwards every other name to the
// node's resolvers.
//
//   - NAME: the service's VIP on the task's networks (for a service without a VIP,
//     its healthy tasks' addresses), or the address of the task called NAME;
//   - tasks.NAME: the addresses of the service's healthy tasks, rotated on each
//     answer so that clients that take the first address spread;
//   - names are case-insensitive, may end in a dot or carry one of the node's search
//     domains; a known name asked for another type than A (AAAA, MX, ...) gets an
//     empty NOERROR answer, so a client does not go on to ask the outside world;
//   - any other name is forwarded, over the transport it came on, to
//     Config.Upstreams in order, from the node's own namespace (ReadHostResolvConf
//     reads them from the host's resolv.conf).
//
// It owns, per task, one UDP and one TCP socket opened inside the task's namespace
// (Start: on a thread switched into it; the sockets stay there and are served from
// ordinary goroutines) and the resolv.conf content that points the task at them
// (ResolvConf). The names come from a Resolver the node fills from its assignments and
// the gossip table (Table is a ready one); the package never looks anything up
// itself. It imports nothing of core.
package dns
