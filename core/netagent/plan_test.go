package netagent

import (
	"net"
	"net/netip"
	"reflect"
	"testing"

	"github.com/shoal-project/shoal/core/gossip"
	"github.com/shoal-project/shoal/network/dns"
	"github.com/shoal-project/shoal/network/lb"
	"github.com/shoal-project/shoal/network/overlay"
)

var (
	addr   = netip.MustParseAddr
	prefix = netip.MustParsePrefix
)

func entry(network, task, service, ip, node string) gossip.Entry {
	return gossip.Entry{
		Attachment: gossip.Attachment{NetworkID: network, TaskID: task, Addr: prefix(ip + "/24"),
			ServiceID: "id-" + service, ServiceName: service, TaskName: service + "." + task},
		NodeID: node, NodeAddr: addr(node),
	}
}

func table(es ...gossip.Entry) map[entryKey]gossip.Entry {
	m := map[entryKey]gossip.Entry{}
	for _, e := range es {
		m[entryKey{e.NetworkID, e.TaskID}] = e
	}
	return m
}

func TestPeersForListsOnlyTheNetworksAttachmentsSortedByAddressDerivingMissingMACs(t *testing.T) {
	mac := net.HardwareAddr{2, 0x42, 10, 0, 1, 9}
	e := entry("n1", "t9", "web", "10.0.1.9", "192.0.2.2")
	e.MAC = mac
	entries := table(e, entry("n1", "t3", "web", "10.0.1.3", "192.0.2.3"), entry("n2", "t4", "db", "10.0.2.4", "192.0.2.3"))
	got := peersFor("n1", entries)
	want := []overlay.Peer{
		{Addr: addr("10.0.1.3"), MAC: net.HardwareAddr{2, 0x42, 10, 0, 1, 3}, NodeAddr: addr("192.0.2.3")},
		{Addr: addr("10.0.1.9"), MAC: mac, NodeAddr: addr("192.0.2.2")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("peersFor = %+v, want %+v", got, want)
	}
}

func TestTaskViewNamesAndBalancesEveryVIPOnAllPorts(t *testing.T) {
	networks := map[string]Network{
		"n1": {ID: "n1", VIPs: []VIP{
			{ServiceID: "id-web", ServiceName: "web", Addr: addr("10.0.1.2")},
			{ServiceID: "id-quiet", ServiceName: "quiet", Addr: addr("10.0.1.5")},
		}},
		"n2": {ID: "n2", VIPs: []VIP{{ServiceID: "id-db", ServiceName: "db", Addr: addr("10.0.2.2")}}},
	}
	entries := table(
		entry("n1", "t1", "web", "10.0.1.10", "192.0.2.1"),
		entry("n1", "t2", "web", "10.0.1.11", "192.0.2.2"),
		entry("n1", "c1", "client", "10.0.1.12", "192.0.2.1"),
		entry("n2", "d1", "db", "10.0.2.10", "192.0.2.3"),
	)
	tests := []struct {
		name         string
		task         Task
		wantRecords  dns.Records
		wantServices []lb.Service
	}{
		{
			name: "task on n1 sees n1's services and tasks only",
			task: Task{ID: "c1", Addrs: map[string]netip.Prefix{"n1": prefix("10.0.1.12/24")}},
			wantRecords: dns.Records{
				Services: map[string]dns.ServiceRecord{
					"web":    {VIP: addr("10.0.1.2"), Tasks: []netip.Addr{addr("10.0.1.10"), addr("10.0.1.11")}},
					"quiet":  {VIP: addr("10.0.1.5")},
					"client": {Tasks: []netip.Addr{addr("10.0.1.12")}},
				},
				Tasks: map[string]netip.Addr{"web.t1": addr("10.0.1.10"), "web.t2": addr("10.0.1.11"), "client.c1": addr("10.0.1.12")},
			},
			wantServices: []lb.Service{
				{Name: "web", VIP: addr("10.0.1.2"), Backends: []netip.Addr{addr("10.0.1.10"), addr("10.0.1.11")}},
				{Name: "quiet", VIP: addr("10.0.1.5")}, // no task yet: refused on every port
			},
		},
		{
			name: "task on n2 sees db with its backend",
			task: Task{ID: "d1", Addrs: map[string]netip.Prefix{"n2": prefix("10.0.2.10/24")}},
			wantRecords: dns.Records{
				Services: map[string]dns.ServiceRecord{"db": {VIP: addr("10.0.2.2"), Tasks: []netip.Addr{addr("10.0.2.10")}}},
				Tasks:    map[string]netip.Addr{"db.d1": addr("10.0.2.10")},
			},
			wantServices: []lb.Service{{Name: "db", VIP: addr("10.0.2.2"), Backends: []netip.Addr{addr("10.0.2.10")}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := viewOf(tt.task, networks, entries)
			if got := v.records(); !reflect.DeepEqual(got, tt.wantRecords) {
				t.Errorf("records = %+v\nwant %+v", got, tt.wantRecords)
			}
			if got := v.services(networks); !reflect.DeepEqual(got, tt.wantServices) {
				t.Errorf("services = %+v\nwant %+v", got, tt.wantServices)
			}
		})
	}
}
