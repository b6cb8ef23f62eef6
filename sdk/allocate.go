package sdk

// Network is an overlay network with its address pool.
type Network struct {
	ID string
	// Subnet is a CIDR, e.g. "10.0.1.0/24".
	Subnet string
	// Gateway is an address inside Subnet reserved for the gateway; may be
	// empty.
	Gateway string
	// Allocated lists addresses already in use (plain addresses, no prefix).
	Allocated []string
}

// AddressRequest asks for one address on one network for a task or a
// service VIP.
type AddressRequest struct {
	// ID names the owner: a task ID or a service ID (for its VIP).
	ID        string
	NetworkID string
}

// PortRequest asks for one dynamic published port.
type PortRequest struct {
	// ID names the owner, e.g. "serviceID/targetPort/proto".
	ID string
	// Protocol is "tcp", "udp" or "sctp".
	Protocol string
}

// UsedPort is a published port already taken.
type UsedPort struct {
	Protocol string
	Port     uint32
}

// Default dynamic port range (as in swarm mode).
const (
	DefaultPortRangeStart uint32 = 30000
	DefaultPortRangeEnd   uint32 = 32767
)

// AllocateRequest is one allocation batch.
type AllocateRequest struct {
	Networks  []Network
	Addresses []AddressRequest
	Ports     []PortRequest
	UsedPorts []UsedPort
	// PortRangeStart and PortRangeEnd bound dynamic ports (inclusive);
	// zero means the defaults.
	PortRangeStart uint32
	PortRangeEnd   uint32
}

// AllocCode is the outcome of one address or port request.
type AllocCode uint32

const (
	AllocOK               AllocCode = 0
	AllocUnknownNetwork   AllocCode = 1
	AllocInvalidSubnet    AllocCode = 2
	AllocPoolExhausted    AllocCode = 3
	AllocPortsExhausted   AllocCode = 4
	AllocInvalidProtocol  AllocCode = 5
	AllocDeclinedByPolicy AllocCode = 6
)

var allocCodeNames = [...]string{
	AllocOK:               "ok",
	AllocUnknownNetwork:   "unknown network",
	AllocInvalidSubnet:    "invalid subnet",
	AllocPoolExhausted:    "address pool exhausted",
	AllocPortsExhausted:   "dynamic port range exhausted",
	AllocInvalidProtocol:  "invalid protocol",
	AllocDeclinedByPolicy: "declined by policy",
}

func (c AllocCode) String() string { return nameOf(allocCodeNames[:], c) }

// AddressResult answers one AddressRequest. Address is in CIDR form with the
// network's prefix length (e.g. "10.0.1.5/24") when Code is AllocOK.
type AddressResult struct {
	Address string
	Code    AllocCode
}

// PortResult answers one PortRequest.
type PortResult struct {
	Port uint32
	Code AllocCode
}

// AllocateResponse answers an AllocateRequest, one result per request, in
// order. Error is set instead when the policy failed as a whole.
type AllocateResponse struct {
	Addresses []AddressResult
	Ports     []PortResult
	Error     string
}
