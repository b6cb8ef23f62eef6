package chaos

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/shoal-project/shoal/internal/nsthread"
	"github.com/shoal-project/shoal/internal/testhost"
)

// delayPort is where a delaying proxy listens inside its host.
const delayPort = 14242

// delay slows one manager's inbound links: there is no netem on this
// kernel, so connections from the other hosts to its port are redirected
// (iptables REDIRECT in its namespace) to a proxy there that passes every
// chunk on, both ways, 100-500 ms after it read it. Its direct connections
// are reset (INPUT on eth0 to the port: redirected packets arrive on the
// proxy's port), so the peers reconnect through the proxy.
func delay(c *cluster, rng *rand.Rand, _ *round, hold time.Duration) (string, []string) {
	n := pick(rng, c.managers)
	h := c.net.Host(n.name)
	d := time.Duration(100+rng.IntN(401)) * time.Millisecond
	p, err := startDelayProxy(h, d)
	c.must(err)
	defer p.close()
	p.iptables(c, "-t", "nat", "-A", "PREROUTING", "-i", "eth0", "-p", "tcp", "--dport", strconv.Itoa(port), "-j", "REDIRECT", "--to-ports", strconv.Itoa(delayPort))
	p.iptables(c, "-A", "INPUT", "-i", "eth0", "-p", "tcp", "--dport", strconv.Itoa(port), "-j", "REJECT", "--reject-with", "tcp-reset")
	time.Sleep(hold)
	p.iptables(c, "-t", "nat", "-F", "PREROUTING")
	c.net.HealAll()
	return fmt.Sprintf("%s delay into %s (%d connections proxied)", d, n.name, p.proxied()), nil
}

// delayProxy passes connections to its host's shoal port, late.
type delayProxy struct {
	h  *testhost.Host
	ln net.Listener
	d  time.Duration

	mu    sync.Mutex
	conns []net.Conn
	count int
}

func (p *delayProxy) iptables(c *cluster, args ...string) {
	c.t.Helper()
	_, err := p.h.Exec("iptables", append([]string{"-w"}, args...)...)
	c.must(err)
}

// inHost runs f in h's network namespace (sockets keep the namespace they
// were opened in).
func inHost(h *testhost.Host, f func() error) error {
	return nsthread.Do("/var/run/netns/"+h.NS, f)
}

func startDelayProxy(h *testhost.Host, d time.Duration) (*delayProxy, error) {
	p := &delayProxy{h: h, d: d}
	err := inHost(h, func() (err error) {
		p.ln, err = net.Listen("tcp", h.HostPort(delayPort))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("delay proxy on %s: %w", h.Name, err)
	}
	go p.accept()
	return p, nil
}

func (p *delayProxy) accept() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		var out net.Conn
		if err := inHost(p.h, func() (err error) {
			out, err = net.DialTimeout("tcp", p.h.HostPort(port), 2*time.Second)
			return err
		}); err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.count++
		p.mu.Unlock()
		go p.pipe(out, in)
		go p.pipe(in, out)
	}
}

// pipe copies src to dst, each chunk written d after it was read, in order.
func (p *delayProxy) pipe(dst, src net.Conn) {
	type chunk struct {
		due time.Time
		b   []byte
	}
	q := make(chan chunk, 4096)
	go func() {
		defer close(q)
		for {
			b := make([]byte, 32<<10)
			n, err := src.Read(b)
			if n > 0 {
				q <- chunk{time.Now().Add(p.d), b[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

func (p *delayProxy) proxied() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

// close stops the proxy and ends its connections (the peers reconnect
// directly).
func (p *delayProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}
