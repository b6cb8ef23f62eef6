package netagent

import (
	"context"
	"fmt"
	"sync"

	"github.com/shoal-project/shoal/core/gossip"
	"github.com/shoal-project/shoal/network/dns"
	"github.com/shoal-project/shoal/network/lb"
	"github.com/shoal-project/shoal/network/overlay"
)

// recorder keeps the calls of every fake in one ordered log.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

type fakeDataplane struct {
	rec   *recorder
	peers map[string][]overlay.Peer
}

func (f *fakeDataplane) EnsureNetwork(c overlay.NetworkConfig) error {
	f.rec.add("ensure %s vni=%d", c.ID, c.VNI)
	return nil
}

func (f *fakeDataplane) RemoveNetwork(id string) error {
	f.rec.add("remove-network %s", id)
	return nil
}

func (f *fakeDataplane) SetPeers(id string, peers []overlay.Peer) error {
	f.rec.rec(func() { f.peers[id] = peers })
	f.rec.add("peers %s %d", id, len(peers))
	return nil
}

func (f *fakeDataplane) Attach(c overlay.EndpointConfig) error {
	f.rec.add("attach %s %s %s %s", c.NetworkID, c.TaskID, c.Addr, c.NetnsPath)
	return nil
}

func (f *fakeDataplane) Detach(network, task string) error {
	f.rec.add("detach %s %s", network, task)
	return nil
}

func (r *recorder) rec(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn()
}

type fakeGossip struct {
	rec     *recorder
	changes chan gossip.Change
}

func (f *fakeGossip) Publish(a gossip.Attachment) error {
	f.rec.add("publish %s %s %s %s", a.NetworkID, a.TaskID, a.Addr, a.ServiceName)
	return nil
}

func (f *fakeGossip) Withdraw(task string) error {
	f.rec.add("withdraw %s", task)
	return nil
}

func (f *fakeGossip) Watch(context.Context) <-chan gossip.Change { return f.changes }

type fakeTaskNet struct {
	rec      *recorder
	path     string
	records  dns.Records
	services []lb.Service
}

func (f *fakeTaskNet) SetRecords(r dns.Records) { f.rec.rec(func() { f.records = r }) }

func (f *fakeTaskNet) SyncLB(s []lb.Service) error {
	f.rec.rec(func() { f.services = s })
	f.rec.add("lb %s %d", f.path, len(s))
	return nil
}

func (f *fakeTaskNet) Close() error {
	f.rec.add("close %s", f.path)
	return nil
}

type fakeMesh struct{ rec *recorder }

func (f *fakeMesh) Sync(iface string, services []lb.Published) error {
	var desc []string
	for _, s := range services {
		desc = append(desc, fmt.Sprintf("%s%v->%v", s.Name, s.Ports, s.Backends))
	}
	f.rec.add("mesh-sync %s %v", iface, desc)
	return nil
}

func (f *fakeMesh) Close() error {
	f.rec.add("mesh-close")
	return nil
}
