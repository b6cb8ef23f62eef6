package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

var netnsSeq atomic.Int64

const netnsPrefix = "shl-transport-"

// removeOrphanNetns deletes namespaces left by test processes that died
// before their cleanup (names carry the creating process's ID).
func removeOrphanNetns() {
	entries, _ := os.ReadDir("/var/run/netns")
	for _, e := range entries {
		pid, _, ok := strings.Cut(strings.TrimPrefix(e.Name(), netnsPrefix), "-")
		if !strings.HasPrefix(e.Name(), netnsPrefix) || !ok {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); errors.Is(err, fs.ErrNotExist) {
			_ = exec.Command("ip", "netns", "del", e.Name()).Run()
		}
	}
}

// dropLink is a real-kernel partition: both ends talk over the loopback
// device of a network namespace made for the test, and an iptables DROP rule
// on the server's port silently drops their packets both ways, so TCP
// retransmits with its backoff as it would across a real partition.
type dropLink struct {
	ns   string
	port string
}

// newDropLink makes the namespace and listens in it. It skips the test
// where namespaces or iptables cannot be used (not root, no tools).
func newDropLink(t *testing.T) (*dropLink, net.Listener) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	removeOrphanNetns()
	ns := fmt.Sprintf("%s%d-%d", netnsPrefix, os.Getpid(), netnsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	l := &dropLink{ns: ns}
	l.run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	var ln net.Listener
	err := inNetns(ns, func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	l.port = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	return l, ln
}

func (l *dropLink) run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// setCut adds (true) or deletes (false) the DROP rules.
func (l *dropLink) setCut(t *testing.T, cut bool) {
	t.Helper()
	op := "-D"
	if cut {
		op = "-I"
	}
	for _, dir := range []string{"--dport", "--sport"} {
		l.run(t, "ip", "netns", "exec", l.ns, "iptables", op, "INPUT", "-p", "tcp", dir, l.port, "-j", "DROP")
	}
}

// dialer wraps dial (nil: a plain net.Dialer) so its sockets are made in the namespace.
func (l *dropLink) dialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		nerr := inNetns(l.ns, func() error {
			c, err = dial(ctx, network, addr)
			return nil
		})
		if nerr != nil {
			return nil, nerr
		}
		return c, err
	}
}

// inNetns runs f on a fresh OS thread moved into namespace ns. The thread is
// never unlocked, so it ends with its goroutine and no other goroutine ever
// runs in the namespace. Sockets f makes stay in ns.
func inNetns(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}
