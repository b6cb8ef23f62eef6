package lb

import (
	"errors"
	"net/netip"
	"testing"
)

func TestMeshRules(t *testing.T) {
	a, b := netip.MustParseAddr("10.255.0.5"), netip.MustParseAddr("10.255.0.6")
	web := Published{Name: "web", Ports: []Port{{Protocol: UDP, Port: 53}, {Protocol: TCP, Port: 8080, TargetPort: 80}}, Backends: []netip.Addr{a, b}}
	tests := []struct {
		name     string
		services []Published
		want     []meshRule // nil with wantErr
		wantErr  bool
	}{
		{name: "nothing published", services: nil, want: nil},
		{name: "one rule per port, tcp first then by port", services: []Published{web}, want: []meshRule{
			{service: "web", port: Port{Protocol: TCP, Port: 8080, TargetPort: 80}, backends: []netip.Addr{a, b}},
			{service: "web", port: Port{Protocol: UDP, Port: 53}, backends: []netip.Addr{a, b}},
		}},
		{name: "a service with no healthy task gets no rule", services: []Published{{Name: "down", Ports: []Port{{Protocol: TCP, Port: 9000}}}}, want: nil},
		{name: "the same port in two protocols is two ports", services: []Published{
			{Name: "t", Ports: []Port{{Protocol: TCP, Port: 53}}, Backends: []netip.Addr{a}},
			{Name: "u", Ports: []Port{{Protocol: UDP, Port: 53}}, Backends: []netip.Addr{b}},
		}, want: []meshRule{
			{service: "t", port: Port{Protocol: TCP, Port: 53}, backends: []netip.Addr{a}},
			{service: "u", port: Port{Protocol: UDP, Port: 53}, backends: []netip.Addr{b}},
		}},
		{name: "two services on one port", services: []Published{web, {Name: "other", Ports: []Port{{Protocol: TCP, Port: 8080}}}}, wantErr: true},
		{name: "port zero", services: []Published{{Name: "z", Ports: []Port{{Protocol: TCP}}}}, wantErr: true},
		{name: "unknown protocol", services: []Published{{Name: "s", Ports: []Port{{Protocol: "sctp", Port: 1}}}}, wantErr: true},
		{name: "IPv6 backend", services: []Published{{Name: "v6", Ports: []Port{{Protocol: TCP, Port: 1}}, Backends: []netip.Addr{netip.MustParseAddr("::1")}}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := meshRules(tt.services)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidService) {
					t.Fatalf("err = %v, want ErrInvalidService", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("rules = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i].service != tt.want[i].service || got[i].port != tt.want[i].port || len(got[i].backends) != len(tt.want[i].backends) {
					t.Errorf("rule %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestMeshSyncRefusesABadInterfaceName(t *testing.T) {
	m := OpenMesh("/proc/self/ns/net", nil)
	for _, name := range []string{"", "an-interface-name-too-long"} {
		if err := m.Sync(name, nil); !errors.Is(err, ErrInvalidService) {
			t.Errorf("Sync(%q): err = %v, want ErrInvalidService", name, err)
		}
	}
}
