// Package wireguard is a node's encrypted tunnel to the other nodes: a
// userspace WireGuard device (golang.zx2c4.com/wireguard on a TUN device) in
// the node's host namespace that carries the VXLAN traffic of encrypted
// overlay networks.
//
// # How encrypted networks use it
//
// The tunnel has no address of its own. Each peer is another node: its
// public key, its endpoint (underlay address and WireGuard port) and, as its
// only allowed IP, its underlay address (/32). The VXLAN device of an
// encrypted network is bound to the tunnel link (network/overlay), so the
// kernel routes its packets to a remote node's underlay address out of the
// tunnel, never out of the underlay link; WireGuard encrypts them and sends
// them to the peer's endpoint over the underlay. On the other side the
// decrypted packet arrives on the tunnel link from the sender's underlay
// address to the VXLAN port of encrypted networks. A packet to a node with
// no peer entry (its key not known yet) is dropped: the tunnel fails closed.
//
// # Keys
//
// Each node makes its own Curve25519 key pair (GeneratePrivateKey); the
// private key never leaves the process. SetPrivateKey rotates it: WireGuard
// drops the sessions made with the old key and peers, once they know the new
// public key, handshake again within a round trip, so TCP connections over
// the tunnel see a pause, not a reset.
//
// The package imports nothing of core. It needs root (CAP_NET_ADMIN) and
// /dev/net/tun on Linux.
package wireguard
