//go:build linux

package overlay

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/network/internal/nsexec"
)

// TestPlaintextVXLANToAnEncryptedNetworkIsDropped forges what an attacker
// on the underlay could send: a VXLAN packet in the clear to the encrypted
// networks' port, carrying a UDP datagram for h2's task. The host's filter
// drops it; with the filter table deleted (the control) the task gets it.
func TestPlaintextVXLANToAnEncryptedNetworkIsDropped(t *testing.T) {
	h1, h2, _ := newEncryptedTestbed(t)
	echo := serveEcho(t, h2.task, h2.taskAddr.Addr())
	eventually(t, "tcp h1->h2 and ping h2->h1", reachable(t, h1, h2, echo))

	sink := listenUDP(t, h2.task, netip.AddrPortFrom(h2.taskAddr.Addr(), 5555))
	forge := func(payload string) {
		t.Helper()
		pkt := vxlanUDP(testVNI, h1.taskAddr.Addr(), netip.AddrPortFrom(h2.taskAddr.Addr(), 5555), []byte(payload))
		to := &net.UDPAddr{IP: h2.underlay.AsSlice(), Port: DefaultEncryptedVXLANPort}
		// Out of the underlay link as another host there would send it
		// (h1's own policy rule would route it into its tunnel).
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var err error
			cerr := rc.Control(func(fd uintptr) { err = unix.BindToDevice(int(fd), "under0") })
			return errors.Join(cerr, err)
		}}
		err := nsexec.DoHandle(openNetns(t, h1.name), func() error {
			c, err := lc.ListenPacket(context.Background(), "udp4", h1.underlay.String()+":0")
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.WriteTo(pkt, to)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	forge("forged while filtered")
	if got, ok := readUDP(sink, 2*time.Second); ok {
		t.Fatalf("the task received %q, forged in the clear on the underlay", got)
	}
	deleteEncryptFilter(t, h2)
	forge("forged without the filter")
	if got, ok := readUDP(sink, 5*time.Second); !ok || got != "forged without the filter" {
		t.Fatalf("control: without the filter the task got %q (ok %v); the forged packet is wrong, so the test shows nothing", got, ok)
	}
}

func deleteEncryptFilter(t *testing.T, h *host) {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(openNetns(t, h.name))))
	if err != nil {
		t.Fatal(err)
	}
	c.DelTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: EncryptFilterTable})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
}

func listenUDP(t *testing.T, nsName string, at netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := nsexec.DoHandle(openNetns(t, nsName), func() (err error) {
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(at))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func readUDP(c *net.UDPConn, wait time.Duration) (string, bool) {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	return string(buf[:n]), err == nil
}

// vxlanUDP builds a VXLAN packet (the UDP payload to the VXLAN port)
// holding an Ethernet frame with an IPv4 UDP datagram from src to dst.
func vxlanUDP(vni int, src netip.Addr, dst netip.AddrPort, payload []byte) []byte {
	srcMAC, _ := MACFromIP(src)
	dstMAC, _ := MACFromIP(dst.Addr())
	udp := binary.BigEndian.AppendUint16(nil, 40000)
	udp = binary.BigEndian.AppendUint16(udp, dst.Port())
	udp = binary.BigEndian.AppendUint16(udp, uint16(8+len(payload)))
	udp = append(binary.BigEndian.AppendUint16(udp, 0), payload...) // no checksum
	ip := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
	ip = append(append(ip, src.AsSlice()...), dst.Addr().AsSlice()...)
	binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
	frame := append(append(append([]byte{}, dstMAC...), srcMAC...), 0x08, 0x00)
	hdr := []byte{0x08, 0, 0, 0, byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
	return append(append(append(hdr, frame...), ip...), udp...)
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func TestCleanupRemovesTheEncryptedNetworksRuleAndFilter(t *testing.T) {
	h1, _, _ := newEncryptedTestbed(t)
	if got := encryptPieces(t, h1); len(got) != 2 {
		t.Fatalf("before Cleanup: %v, want the rule and the filter table", got)
	}
	if err := h1.m.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if got := encryptPieces(t, h1); len(got) != 0 {
		t.Fatalf("after Cleanup: %v left", got)
	}
}

// encryptPieces lists the encrypted networks' policy rule and filter table
// found in a host's namespace.
func encryptPieces(t *testing.T, h *host) []string {
	t.Helper()
	var out []string
	rules, err := netlinkAt(t, openNetns(t, h.name)).RuleList(unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Priority == encryptRulePriority {
			out = append(out, "rule "+r.String())
		}
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(openNetns(t, h.name))))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name == EncryptFilterTable {
			out = append(out, "nftables table "+tb.Name)
		}
	}
	return out
}
