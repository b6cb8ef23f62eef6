package lb_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/network/lb"
)

func TestSyncRejectsBadServicesNamingTheField(t *testing.T) {
	good := lb.Service{Name: "web", VIP: vip, Ports: []lb.Port{{Protocol: lb.TCP, Port: 80}}}
	tests := []struct {
		name     string
		mutate   func(*lb.Service)
		services func(lb.Service) []lb.Service
		want     string
	}{
		{name: "IPv6 VIP", mutate: func(s *lb.Service) { s.VIP = netip.MustParseAddr("fd00::1") }, want: "VIP"},
		{name: "no VIP", mutate: func(s *lb.Service) { s.VIP = netip.Addr{} }, want: "VIP"},
		{name: "unknown protocol", mutate: func(s *lb.Service) { s.Ports[0].Protocol = "sctp" }, want: `protocol "sctp"`},
		{name: "port zero", mutate: func(s *lb.Service) { s.Ports[0].Port = 0 }, want: "port 0"},
		{name: "IPv6 backend", mutate: func(s *lb.Service) { s.Backends = []netip.Addr{netip.MustParseAddr("fd00::2")} }, want: "backend 0"},
		{
			name:     "two services on one VIP port",
			services: func(s lb.Service) []lb.Service { o := s; o.Name = "api"; return []lb.Service{s, o} },
			want:     `"web" and "api" both claim`,
		},
		{
			name: "an all-ports service and another on its VIP",
			services: func(s lb.Service) []lb.Service {
				o := s
				o.Name, o.Ports = "all", nil
				return []lb.Service{s, o}
			},
			want: `"web" and "all" both claim`,
		},
	}
	bal, err := lb.Open("/proc/self/ns/net", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good
			s.Ports = append([]lb.Port(nil), good.Ports...)
			services := []lb.Service{s}
			if tt.mutate != nil {
				tt.mutate(&services[0])
			}
			if tt.services != nil {
				services = tt.services(s)
			}
			err := bal.Sync(services)
			if !errors.Is(err, lb.ErrInvalidService) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Sync: err = %v, want ErrInvalidService mentioning %q", err, tt.want)
			}
		})
	}
}
