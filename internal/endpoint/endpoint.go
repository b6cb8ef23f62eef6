package endpoint

// SocketName is a manager's admin socket's file name inside its data dir.
const SocketName = "shoal.sock"

// MetricsSocketName is every node's metrics socket (its own node's metrics,
// for root on that host) inside its data dir.
const MetricsSocketName = "metrics.sock"

// HTTP headers of the API.
const (
	// HeaderLocalRead asks a manager to answer a read from its own store
	// without going to the leader: possibly stale, like etcd's serializable
	// reads. Writes are still forwarded.
	HeaderLocalRead = "Shoal-Local-Read"
	// HeaderEntryNode, on a response, names the manager a client talked to.
	HeaderEntryNode = "Shoal-Node-Id"
)
