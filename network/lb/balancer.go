package lb

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"

	"github.com/google/nftables"
	"github.com/vishvananda/netns"
)

// TableName is the nftables table (family ip) this package owns in a namespace.
const TableName = "shoal-lb"

// Balancer programs the VIPs of one namespace (one client task).
type Balancer struct {
	path string
	log  *slog.Logger

	mu     sync.Mutex // one Sync or Close at a time
	closed bool
	last   []Service // what the table holds; nil before the first Sync
}

// ErrClosed is returned by Sync after Close.
var ErrClosed = errors.New("load balancer closed")

// Open returns a Balancer for the network namespace bound at netnsPath. It changes
// nothing until the first Sync.
func Open(netnsPath string, logger *slog.Logger) (*Balancer, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", netnsPath, err)
	}
	_ = h.Close()
	return &Balancer{path: netnsPath, log: logger.With("netns", netnsPath)}, nil
}

// Sync replaces the namespace's VIP rules with services, in one transaction.
func (b *Balancer) Sync(services []Service) error {
	if err := validate(services); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	// A transaction that deletes rules costs the kernel an RCU grace period (~13 ms
	// here), so an unchanged set is not written again.
	if b.last != nil && reflect.DeepEqual(b.last, services) {
		return nil
	}
	err := b.withConn(func(c *nftables.Conn) error {
		t := replaceTable(c, TableName)
		ch := addOutputChains(c, t)
		var ids setIDs
		for _, s := range services {
			if len(s.Ports) == 0 {
				if err := addAllPortsRule(c, t, ch, &ids, s); err != nil {
					return fmt.Errorf("service %q: %w", s.Name, err)
				}
			}
			for _, p := range s.Ports {
				if err := addPortRule(c, t, ch, &ids, s, p); err != nil {
					return fmt.Errorf("service %q port %s/%d: %w", s.Name, p.Protocol, p.Port, err)
				}
			}
		}
		return c.Flush()
	})
	if err != nil {
		return fmt.Errorf("program VIPs in %s: %w", b.path, err)
	}
	if err := forgetUDPFlows(b.path, goneBackends(serviceBackends(b.last), serviceBackends(services))); err != nil {
		b.log.Warn("removed backends keep their UDP flows until they time out", "err", err)
	}
	b.last = cloneServices(services)
	b.log.Debug("VIPs programmed", "services", len(services))
	return nil
}

// Close removes the table from the namespace. A namespace that is already gone has
// nothing to remove.
func (b *Balancer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	return dropTable(b.path, TableName)
}

// dropTable removes table name from the namespace at path; a namespace that
// is gone has nothing to remove.
func dropTable(path, name string) error {
	err := withNetnsConn(path, func(c *nftables.Conn) error {
		// Adding first makes the delete succeed whether or not a Sync ever ran.
		c.DelTable(c.AddTable(table(name)))
		return c.Flush()
	})
	if err != nil && !errors.Is(err, errNoNamespace) {
		return fmt.Errorf("remove %s from %s: %w", name, path, err)
	}
	return nil
}

var errNoNamespace = errors.New("network namespace is gone")

// withConn runs f with an nftables connection whose netlink socket lives in the
// namespace (the namespace is opened per call, so a Balancer never pins it).
func (b *Balancer) withConn(f func(*nftables.Conn) error) error { return withNetnsConn(b.path, f) }

func withNetnsConn(path string, f func(*nftables.Conn) error) error {
	h, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoNamespace, err)
	}
	defer h.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(h)))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	return f(c)
}
