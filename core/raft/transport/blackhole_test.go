package transport_test

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// blackhole is a loopback TCP proxy a test can cut. Once cut, every
// connection it holds stays open but its bytes are discarded both ways and
// its closes are not passed on (a FIN is a packet too); connections accepted
// while cut are held open and never forwarded. Healing helps only connections
// made afterwards: one that lived through a cut stays a black hole, as a real
// one does for the minutes of TCP's retransmission backoff.
type blackhole struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	pairs []*pair
	wg    sync.WaitGroup
}

type pair struct {
	client, server net.Conn // server is nil for a connection accepted while cut
	dead           atomic.Bool
	// serverClosed says the server ended a dead connection by itself.
	serverClosed atomic.Bool
}

func newBlackhole(t *testing.T, target string) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln, target: target}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(b.close)
	return b
}

func (b *blackhole) addr() string { return b.ln.Addr().String() }

func (b *blackhole) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		p := &pair{client: c}
		b.mu.Lock()
		cut := b.cut
		b.pairs = append(b.pairs, p)
		b.mu.Unlock()
		if !cut {
			p.server, err = net.Dial("tcp", b.target)
		}
		if cut || err != nil {
			p.dead.Store(true)
			b.wg.Add(1)
			go b.pipe(p, c, io.Discard, false)
			continue
		}
		b.wg.Add(2)
		go b.pipe(p, c, p.server, false)
		go b.pipe(p, p.server, c, true)
	}
}

// pipe copies src to dst until src fails; a dead pair discards what it
// reads and does not pass a close on.
func (b *blackhole) pipe(p *pair, src net.Conn, dst io.Writer, fromServer bool) {
	defer b.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			if !p.dead.Load() {
				p.closeAll()
			} else if fromServer && !errors.Is(err, net.ErrClosed) {
				p.serverClosed.Store(true)
			}
			return
		}
		if p.dead.Load() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			p.closeAll()
			return
		}
	}
}

func (p *pair) closeAll() {
	_ = p.client.Close()
	if p.server != nil {
		_ = p.server.Close()
	}
}

// setCut cuts (true) or heals (false) the link.
func (b *blackhole) setCut(cut bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cut = cut
	if cut {
		for _, p := range b.pairs {
			p.dead.Store(true)
		}
	}
}

// deadWithServer returns how many dead connections had a server side, and
// how many of those the server has closed.
func (b *blackhole) deadWithServer() (dead, closed int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.pairs {
		if p.dead.Load() && p.server != nil {
			dead++
			if p.serverClosed.Load() {
				closed++
			}
		}
	}
	return dead, closed
}

func (b *blackhole) close() {
	_ = b.ln.Close()
	b.mu.Lock()
	for _, p := range b.pairs {
		p.closeAll()
	}
	b.mu.Unlock()
	b.wg.Wait()
}
