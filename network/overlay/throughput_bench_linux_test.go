//go:build linux

package overlay

import (
	"io"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/shoal-project/shoal/network/internal/nsexec"
)

// pathMode is one way between two test hosts: their underlay (host
// networking), a plain overlay network, or an encrypted one.
type pathMode struct {
	name      string
	encrypted bool
	overlay   bool
}

var pathModes = []pathMode{
	{name: "host"},
	{name: "overlay", overlay: true},
	{name: "encrypted", overlay: true, encrypted: true},
}

// benchPath sets up one mode on a fresh testbed and returns the namespace
// the client runs in and the server's address there (the server side runs
// in serverNs).
func benchPath(b *testing.B, mode pathMode) (client netns.NsHandle, serverNs string, server netip.Addr) {
	h1, h2 := newTestbed(b)
	if !mode.overlay {
		return openNetns(b, h1.name), h2.name, h2.underlay
	}
	openTunnels(b, h1, h2)
	cfg := testNetwork()
	cfg.Encrypted = mode.encrypted
	setUpNetwork(b, cfg, h1, h2)
	echo := serveEcho(b, h2.task, h2.taskAddr.Addr())
	eventually(b, "tcp h1->h2 and ping h2->h1", reachable(b, h1, h2, echo))
	return openNetns(b, h1.task), h2.task, h2.taskAddr.Addr()
}

// BenchmarkTCPThroughput streams 64 KiB writes over one TCP connection from
// a task on one test host to a task on another; MB/s is the throughput.
func BenchmarkTCPThroughput(b *testing.B) {
	for _, mode := range pathModes {
		b.Run(mode.name, func(b *testing.B) {
			client, serverNs, addr := benchPath(b, mode)
			to, received := serveSink(b, serverNs, addr)
			c := dialIn(b, client, to)
			chunk := make([]byte, 64<<10)
			b.SetBytes(int64(len(chunk)))
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			_ = c.(*net.TCPConn).CloseWrite()
			if n := <-received; n != int64(b.N*len(chunk)) {
				b.Fatalf("server received %d bytes, want %d", n, b.N*len(chunk))
			}
		})
	}
}

// BenchmarkRequestLatency sends 64-byte requests and waits for each 64-byte
// answer over one TCP connection between tasks on two test hosts; ns/op is
// the mean round trip, p99-µs its 99th percentile.
func BenchmarkRequestLatency(b *testing.B) {
	for _, mode := range pathModes {
		b.Run(mode.name, func(b *testing.B) {
			client, serverNs, addr := benchPath(b, mode)
			to := serveEchoOn(b, serverNs, addr, 8)
			c := dialIn(b, client, to)
			req, resp := make([]byte, 64), make([]byte, 64)
			rtts := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, resp); err != nil {
					b.Fatal(err)
				}
				rtts = append(rtts, time.Since(start))
			}
			slices.Sort(rtts)
			b.ReportMetric(float64(rtts[len(rtts)*99/100].Microseconds()), "p99-µs")
		})
	}
}

func dialIn(b testing.TB, ns netns.NsHandle, to netip.AddrPort) net.Conn {
	b.Helper()
	var c net.Conn
	err := nsexec.DoHandle(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", to.String(), 5*time.Second)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// listenIn listens on port of addr inside a named netns until the test ends.
func listenIn(b testing.TB, nsName string, addr netip.Addr, port uint16) net.Listener {
	b.Helper()
	var ln net.Listener
	err := nsexec.DoHandle(openNetns(b, nsName), func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addr, port).String())
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ln.Close() })
	return ln
}

// serveSink reads one connection to its end and sends how many bytes came.
func serveSink(b testing.TB, nsName string, addr netip.Addr) (netip.AddrPort, <-chan int64) {
	ln := listenIn(b, nsName, addr, 9)
	received := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		received <- n
	}()
	return netip.AddrPortFrom(addr, 9), received
}
