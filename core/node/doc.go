// Package node runs one shoal node: it owns the node's data dir (identity in
// node.json, TLS material under certs/), creates a cluster (Init), joins one
// (Join) or restarts from disk (Run), and supervises the node's parts: the
// manager (Raft, store, API, leader components) when the node is a manager,
// and the agent with its runtime backend on every node.
//
// It must not reach into the manager's store or the agent's state directly;
// it talks to them through their constructors and the public API.
package node
