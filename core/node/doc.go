// Package node runs one shoal node: it owns the node's data dir (identity in
// node.json, TLS material under certs/), creates a cluster (Init), joins one
// (Join) or restarts from disk (Run), and supervises the node's parts: the
// manager (Raft, store, API, leader components) when the node is a manager,
// and the agent with its runtime backend on every node.
//
// A worker the cluster removed (shoal node rm) leaves: once its agent has
// removed every task, the node tears down the backend's node-wide
// resources (containerd's bridge and NAT rules), records the removal in
// node.json so Run refuses the data dir, and stops with ErrRemoved.
//
// It must not reach into the manager's store or the agent's state directly;
// it talks to them through their constructors and the public API.
package node
