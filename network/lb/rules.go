package lb

import (
	"encoding/binary"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Register numbers as the kernel counts them: register 1 is the first 128-bit
// register; a concatenation's second field starts in the 32-bit register after it.
const (
	icmpPortUnreachable = 3 // ICMP destination unreachable code (RFC 792)

	reg1       = 1
	reg1Second = unix.NFT_REG32_01
)

// backendType is a backend's address and port, the data of the numgen map.
var backendType = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)

func table(name string) *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyIPv4, Name: name}
}

// replaceTable queues the deletion of the current table (after an add, so that the
// delete cannot fail) and the creation of an empty one, in the same transaction.
func replaceTable(c *nftables.Conn, name string) *nftables.Table {
	c.DelTable(c.AddTable(table(name)))
	return c.AddTable(table(name))
}

// chains are the table's two chains on the output hook: nat for the VIP ports with
// backends, filter (after nat) to reject the ones without.
type chains struct {
	nat, filter *nftables.Chain
}

func addOutputChains(c *nftables.Conn, t *nftables.Table) chains {
	return chains{
		nat: c.AddChain(&nftables.Chain{
			Name:     "output",
			Table:    t,
			Type:     nftables.ChainTypeNAT,
			Hooknum:  nftables.ChainHookOutput,
			Priority: nftables.ChainPriorityNATDest,
		}),
		filter: c.AddChain(&nftables.Chain{
			Name:     "reject",
			Table:    t,
			Type:     nftables.ChainTypeFilter,
			Hooknum:  nftables.ChainHookOutput,
			Priority: nftables.ChainPriorityFilter,
		}),
	}
}

// setIDs numbers the anonymous maps of one transaction (nftables' own counter is a
// package global, unsafe with two namespaces synced at once).
type setIDs uint32

func (s *setIDs) next() uint32 { *s++; return uint32(*s) }

// addPortRule queues "ip daddr VIP meta l4proto P th dport PORT" followed by either
// "dnat to numgen inc mod N map { i : backend_i . port }" or, with no backend, a reject.
// (A reject in the nat chain is accepted by the kernel but never refuses the
// connection, hence the filter chain.)
func addPortRule(c *nftables.Conn, t *nftables.Table, ch chains, ids *setIDs, s Service, p Port) error {
	exprs := append(matchVIP(s), matchPort(p)...)
	if len(s.Backends) == 0 {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch.filter, Exprs: append(exprs, reject(p.Protocol))})
		return nil
	}
	m, err := addBackendMap(c, t, ids, s, backendType, func(b [4]byte) []byte { return backendValue(b, p.target()) })
	if err != nil {
		return err
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: ch.nat, Exprs: append(exprs, dnatByNumgen(m, len(s.Backends), true)...)})
	return nil
}

// addAllPortsRule queues "ip daddr VIP dnat to numgen inc mod N map { i : backend_i }",
// which keeps the destination port and balances every protocol, or, with no backend,
// "ip daddr VIP meta l4proto tcp reject with tcp reset" and "ip daddr VIP reject".
func addAllPortsRule(c *nftables.Conn, t *nftables.Table, ch chains, ids *setIDs, s Service) error {
	if len(s.Backends) == 0 {
		tcp := append(matchVIP(s), matchProto(TCP)...)
		c.AddRule(&nftables.Rule{Table: t, Chain: ch.filter, Exprs: append(tcp, reject(TCP))})
		c.AddRule(&nftables.Rule{Table: t, Chain: ch.filter, Exprs: append(matchVIP(s), reject(UDP))})
		return nil
	}
	m, err := addBackendMap(c, t, ids, s, nftables.TypeIPAddr, func(b [4]byte) []byte { return b[:] })
	if err != nil {
		return err
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: ch.nat, Exprs: append(matchVIP(s), dnatByNumgen(m, len(s.Backends), false)...)})
	return nil
}

func matchVIP(s Service) []expr.Any {
	vip := s.VIP.As4()
	return []expr.Any{
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: vip[:]},
	}
}

func matchProto(p Protocol) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{protoNumber(p)}},
	}
}

func matchPort(p Port) []expr.Any {
	return append(matchProto(p.Protocol),
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.BigEndian.PutUint16(p.Port)},
	)
}

func protoNumber(p Protocol) byte {
	if p == UDP {
		return unix.IPPROTO_UDP
	}
	return unix.IPPROTO_TCP
}

// reject refuses TCP with a reset and anything else with ICMP port unreachable.
func reject(p Protocol) expr.Any {
	if p == TCP {
		return &expr.Reject{Type: unix.NFT_REJECT_TCP_RST}
	}
	return &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: icmpPortUnreachable}
}

// addBackendMap queues the anonymous map { i : value(backend_i) } of data type dt.
func addBackendMap(c *nftables.Conn, t *nftables.Table, ids *setIDs, s Service, dt nftables.SetDatatype, value func([4]byte) []byte) (*nftables.Set, error) {
	m := &nftables.Set{
		Table:        t,
		ID:           ids.next(),
		Name:         "__map%d",
		Anonymous:    true,
		Constant:     true,
		IsMap:        true,
		KeyType:      nftables.TypeInteger,
		KeyByteOrder: binaryutil.NativeEndian,
		DataType:     dt,
	}
	elems := make([]nftables.SetElement, len(s.Backends))
	for i, b := range s.Backends {
		elems[i] = nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(i)), Val: value(b.As4())}
	}
	return m, c.AddSet(m, elems)
}

// backendValue is address . port, the port padded to a 32-bit register.
func backendValue(addr [4]byte, port uint16) []byte {
	v := make([]byte, 8)
	copy(v, addr[:])
	binary.BigEndian.PutUint16(v[4:], port)
	return v
}

// dnatByNumgen DNATs to the map's i-th backend, its address and, withPort, its port
// (else the destination port is kept).
func dnatByNumgen(m *nftables.Set, n int, withPort bool) []expr.Any {
	nat := &expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1}
	if withPort {
		nat.RegProtoMin, nat.Specified = reg1Second, true
	}
	return []expr.Any{
		&expr.Numgen{Register: reg1, Modulus: uint32(n), Type: unix.NFT_NG_INCREMENTAL},
		&expr.Lookup{SourceRegister: reg1, DestRegister: reg1, IsDestRegSet: true, SetName: m.Name, SetID: m.ID},
		nat,
	}
}
