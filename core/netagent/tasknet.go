package netagent

import (
	"errors"
	"log/slog"
	"net/netip"

	"github.com/shoal-project/shoal/network/dns"
	"github.com/shoal-project/shoal/network/lb"
)

// nsTaskNet is the real TaskNet: a network/dns server on 127.0.0.11 and a
// network/lb balancer, both in the task's namespace.
type nsTaskNet struct {
	table dns.Table
	srv   *dns.Server
	lb    *lb.Balancer
}

// NamespaceOpener returns the TaskNetOpener the node uses: upstreams get
// the names the cluster does not know (the host's resolvers).
func NamespaceOpener(upstreams []netip.AddrPort, search []string, log *slog.Logger) TaskNetOpener {
	return func(netnsPath string) (TaskNet, error) {
		t := &nsTaskNet{}
		srv, err := dns.Start(netnsPath, dns.Config{Resolver: &t.table, Upstreams: upstreams, SearchDomains: search, Logger: log})
		if err != nil {
			return nil, err
		}
		t.srv = srv
		if t.lb, err = lb.Open(netnsPath, log); err != nil {
			return nil, errors.Join(err, srv.Stop())
		}
		return t, nil
	}
}

func (t *nsTaskNet) SetRecords(r dns.Records)           { t.table.Set(r) }
func (t *nsTaskNet) SyncLB(services []lb.Service) error { return t.lb.Sync(services) }
func (t *nsTaskNet) Close() error                       { return errors.Join(t.srv.Stop(), t.lb.Close()) }
