package netagent

import "net/netip"

// Network is one network the node's assignments name.
type Network struct {
	ID      string
	Name    string
	VNI     int
	Subnet  netip.Prefix
	Gateway netip.Addr // optional
	// Encrypted networks' traffic between nodes goes through the node's
	// WireGuard tunnel.
	Encrypted bool
	VIPs      []VIP
}

// VIP is one service's virtual IP on a network.
type VIP struct {
	ServiceID   string
	ServiceName string
	// Addr balances every port and protocol to the same port of the
	// service's tasks (published ports or not), as in swarm mode.
	Addr netip.Addr
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
