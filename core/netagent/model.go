package netagent

import (
	"net/netip"

	"github.com/shoal-project/shoal/network/lb"
)

// Network is one network the node's assignments name.
type Network struct {
	ID      string
	Name    string
	VNI     int
	Subnet  netip.Prefix
	Gateway netip.Addr // optional
	VIPs    []VIP
	// Ingress marks the routing mesh's network: its VIPs' Ports are
	// published on every node.
	Ingress bool
	// Encrypted networks' traffic between nodes goes through the node's
	// WireGuard tunnel.
	Encrypted bool
}

// VIP is one service's virtual IP on a network.
type VIP struct {
	ServiceID   string
	ServiceName string
	// Addr balances every port and protocol to the same port of the
	// service's tasks (published ports or not), as in swarm mode.
	Addr netip.Addr
	// Ports are the service's ingress-published ports (on the ingress
	// network only): Port the published port, TargetPort the tasks'.
	Ports []lb.Port
}

// Task is one of the node's assigned tasks with network attachments.
type Task struct {
	ID          string
	Name        string
	ServiceID   string
	ServiceName string
	// Addrs maps a network ID to the task's address on it (with the
	// subnet's prefix length).
	Addrs map[string]netip.Prefix
}
