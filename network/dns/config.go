package dns

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// Config configures a task's DNS server. Zero values take the defaults below.
type Config struct {
	// Resolver answers the cluster's names. Required.
	Resolver Resolver
	// Upstreams receive every other name, tried in order (the node's resolvers).
	// None: such names are answered SERVFAIL.
	Upstreams []netip.AddrPort
	// SearchDomains are stripped from query names before they are looked up
	// (the task's resolv.conf keeps the host's, so NAME.domain reaches us too).
	SearchDomains []string
	// Listen is where the server listens inside the namespace. Default 127.0.0.11:53.
	Listen netip.AddrPort
	// ForwardTimeout bounds one exchange with one upstream. Default 2 s.
	ForwardTimeout time.Duration
	// TTL of the cluster's answers. Default 600 s (swarm's).
	TTL time.Duration
	// Logger; default discards.
	Logger *slog.Logger
}

// Defaults of Config.
var (
	DefaultListen         = netip.MustParseAddrPort("127.0.0.11:53")
	DefaultForwardTimeout = 2 * time.Second
	DefaultTTL            = 600 * time.Second
)

// ErrInvalidConfig is wrapped by every Config validation error.
var ErrInvalidConfig = errors.New("invalid DNS server config")

func (c Config) withDefaults() (Config, error) {
	if c.Resolver == nil {
		return c, fmt.Errorf("%w: Resolver is nil: give the server the task's names (e.g. a *Table)", ErrInvalidConfig)
	}
	for i, u := range c.Upstreams {
		if !u.IsValid() || u.Port() == 0 {
			return c, fmt.Errorf("%w: Upstreams[%d] %q: want address:port, e.g. 192.0.2.53:53", ErrInvalidConfig, i, u)
		}
	}
	if !c.Listen.IsValid() {
		c.Listen = DefaultListen
	}
	if c.ForwardTimeout <= 0 {
		c.ForwardTimeout = DefaultForwardTimeout
	}
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.SearchDomains = normalizeDomains(c.SearchDomains)
	return c, nil
}
