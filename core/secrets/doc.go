// Package secrets seals a secret's data for the store and opens it for the
// nodes that need it.
//
// It owns the cluster's secret data key format, the sealed form (AES-256-GCM,
// a random 12-byte nonce first, the secret's ID as additional data, so sealed
// data copied onto another secret does not open) and the size limit. It must
// not touch the store, the network or the disk: the API seals before it
// proposes a write, the leader's dispatcher opens what it sends to a node.
package secrets
