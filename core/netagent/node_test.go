package netagent

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/core/gossip"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/network/overlay"
	"github.com/shoal-project/shoal/runtime"
)

type fakeMember struct {
	fakeGossip
	keys   [][]byte
	joined []string
	closed bool
}

func (m *fakeMember) Join(peers []string) error   { m.joined = append(m.joined, peers...); return nil }
func (m *fakeMember) SetKeys(keys [][]byte) error { m.keys = keys; return nil }
func (m *fakeMember) Close() error                { m.closed = true; return nil }

func TestNodeStartsGossipAtFirstKeysAndRotatesLater(t *testing.T) {
	ctx := context.Background()
	rec := &recorder{}
	var members []*fakeMember
	n, err := NewNode(NodeConfig{
		Dataplane: &fakeDataplane{rec: rec, peers: map[string][]overlay.Peer{}},
		OpenTask:  func(p string) (TaskNet, error) { return &fakeTaskNet{rec: rec, path: p}, nil },
		NewMember: func(keys [][]byte) (Member, error) {
			m := &fakeMember{fakeGossip: fakeGossip{rec: rec, changes: make(chan gossip.Change)}, keys: keys}
			members = append(members, m)
			return m, nil
		},
		Search: []string{"example.org"},
	})
	if err != nil {
		t.Fatal(err)
	}
	spec := &runtime.TaskSpec{TaskID: "t1", ServiceID: "s1", ServiceName: "web", Slot: 2,
		Networks: []runtime.NetworkAttachment{{NetworkID: "n1", Addr: netip.MustParsePrefix("10.0.1.5/24")}}}
	if _, err := n.Attach(ctx, spec, "/proc/1/ns/net"); !errors.Is(err, ErrNoGossip) {
		t.Fatalf("Attach before any session = %v, want ErrNoGossip", err)
	}
	if err := n.SetNetworks(ctx, []*shoalv1.NetworkAssignment{{Id: "n1", Name: "front", Vni: 4097, Subnet: "10.0.1.0/24"}}, ""); err != nil {
		t.Fatal(err)
	}
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	if err := n.SetGossip([][]byte{k1}, []string{"192.0.2.2:7946"}); err != nil {
		t.Fatal(err)
	}
	if len(members) != 1 || members[0].joined[0] != "192.0.2.2:7946" {
		t.Fatalf("after the first keys: %d members, want one that joined the peer", len(members))
	}
	resolv, err := n.Attach(ctx, spec, "/proc/1/ns/net")
	if err != nil {
		t.Fatalf("Attach after the session: %v (networks given before gossip started must be kept)", err)
	}
	if !strings.Contains(string(resolv), "nameserver 127.0.0.11") || !strings.Contains(string(resolv), "example.org") {
		t.Fatalf("resolv.conf = %q, want the embedded server and the host's search domain", resolv)
	}
	if err := n.SetGossip([][]byte{k2, k1}, nil); err != nil {
		t.Fatal(err)
	}
	if len(members) != 1 || !bytes.Equal(members[0].keys[0], k2) {
		t.Fatalf("rotation: %d members, primary %x; want the same member with the new key", len(members), members[0].keys[0])
	}
	if err := n.Close(); err != nil || !members[0].closed {
		t.Fatalf("Close = %v, member closed %v", err, members[0].closed)
	}
}

func TestNetworksFromAssignments(t *testing.T) {
	good := &shoalv1.NetworkAssignment{Id: "n1", Name: "front", Vni: 4097, Subnet: "10.0.1.0/24", Gateway: "10.0.1.1",
		Vips: []*shoalv1.ServiceVIP{{ServiceId: "s1", ServiceName: "web", Address: "10.0.1.2/24",
			Ports: []*shoalv1.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080}, {Protocol: "UDP", TargetPort: 53}}}}}
	got, err := NetworksFromAssignments([]*shoalv1.NetworkAssignment{good})
	if err != nil {
		t.Fatal(err)
	}
	vip := got[0].VIPs[0]
	if got[0].Gateway != addr("10.0.1.1") || vip.Addr != addr("10.0.1.2") ||
		vip.ServiceID != "s1" || vip.ServiceName != "web" {
		t.Fatalf("converted = %+v", got[0])
	}
	for _, tt := range []struct {
		name, field string
		na          *shoalv1.NetworkAssignment
	}{
		{"bad subnet", "subnet", &shoalv1.NetworkAssignment{Name: "x", Subnet: "10.0.1.0"}},
		{"bad gateway", "gateway", &shoalv1.NetworkAssignment{Name: "x", Subnet: "10.0.1.0/24", Gateway: "nope"}},
		{"bad VIP", "VIP of service web", &shoalv1.NetworkAssignment{Name: "x", Subnet: "10.0.1.0/24",
			Vips: []*shoalv1.ServiceVIP{{ServiceName: "web", Address: "10.0.1.2"}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NetworksFromAssignments([]*shoalv1.NetworkAssignment{tt.na})
			if err == nil || !strings.Contains(err.Error(), tt.field) || !strings.Contains(err.Error(), "network x") {
				t.Fatalf("err = %v, want one naming network x and %s", err, tt.field)
			}
		})
	}
}

func TestTaskNameIsSwarms(t *testing.T) {
	if got := TaskName(&runtime.TaskSpec{ServiceName: "web", Slot: 2, TaskID: "abc"}); got != "web.2.abc" {
		t.Errorf("replicated = %q", got)
	}
	if got := TaskName(&runtime.TaskSpec{ServiceName: "agent", NodeID: "n9", TaskID: "abc"}); got != "agent.n9.abc" {
		t.Errorf("global = %q", got)
	}
}
