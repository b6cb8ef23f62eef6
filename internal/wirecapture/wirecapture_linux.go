//go:build linux

// Package wirecapture is a test's packet capture: an AF_PACKET socket on one
// link that counts the frames it sees and how many of them hold a marker,
// so a test can show what crosses a wire in the clear (tcpdump's job,
// without tcpdump or libpcap).
package wirecapture

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Capture reads every frame of one link until Stop.
type Capture struct {
	fd     int
	marker []byte
	done   chan struct{}

	mu     sync.Mutex
	frames int
	hits   int
	err    error
	stop   bool
}

// Open starts capturing on the link with index ifindex in the calling
// thread's network namespace (the socket keeps it afterwards), counting
// frames and those holding marker.
func Open(ifindex int, marker []byte) (*Capture, error) {
	if len(marker) == 0 {
		return nil, errors.New("wirecapture: empty marker")
	}
	proto := int(htons(unix.ETH_P_ALL))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, fmt.Errorf("wirecapture: packet socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("wirecapture: bind to link %d: %w", ifindex, err)
	}
	// Promiscuous, as tcpdump: on a bridge, frames forwarded between its
	// ports reach the bridge's own taps only then.
	mreq := &unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mreq); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("wirecapture: promiscuous mode: %w", err)
	}
	tv := unix.NsecToTimeval(100e6) // so the reader sees Stop
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("wirecapture: receive timeout: %w", err)
	}
	c := &Capture{fd: fd, marker: bytes.Clone(marker), done: make(chan struct{})}
	go c.read()
	return c, nil
}

func (c *Capture) read() {
	defer close(c.done)
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		c.mu.Lock()
		switch {
		case c.stop:
			c.mu.Unlock()
			return
		case err == nil:
			c.frames++
			c.hits += bytes.Count(buf[:n], c.marker)
		case !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR):
			c.err = fmt.Errorf("wirecapture: read: %w", err)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// Stop ends the capture and returns the frames seen and how many times
// the marker appeared in them.
func (c *Capture) Stop() (frames, hits int, err error) {
	c.mu.Lock()
	c.stop = true
	c.mu.Unlock()
	<-c.done
	unix.Close(c.fd)
	return c.frames, c.hits, c.err
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
