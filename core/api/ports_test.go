package api

import (
	"context"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func TestValidatePorts(t *testing.T) {
	port := func(pub, target uint32, proto, mode string) *shoalv1.PortConfig {
		return &shoalv1.PortConfig{PublishedPort: pub, TargetPort: target, Protocol: proto, PublishMode: mode}
	}
	tests := []struct {
		name  string
		ports []*shoalv1.PortConfig
		field string // in the message; "" means valid
	}{
		{"ingress and host, tcp and udp", []*shoalv1.PortConfig{port(8080, 80, "tcp", "ingress"), port(53, 53, "udp", "host")}, ""},
		{"defaults: tcp, ingress, dynamic", []*shoalv1.PortConfig{port(0, 80, "", "")}, ""},
		{"one port in two protocols", []*shoalv1.PortConfig{port(53, 53, "tcp", ""), port(53, 53, "udp", "")}, ""},
		{"two dynamic ports", []*shoalv1.PortConfig{port(0, 80, "", ""), port(0, 81, "", "")}, ""},
		{"no target", []*shoalv1.PortConfig{port(8080, 0, "", "")}, "ports[0].target_port"},
		{"published out of range", []*shoalv1.PortConfig{port(70000, 80, "", "")}, "ports[0].published_port"},
		{"bad protocol", []*shoalv1.PortConfig{port(1, 1, "sctp", "")}, "ports[0].protocol"},
		{"bad mode", []*shoalv1.PortConfig{port(1, 1, "", "global")}, "ports[0].publish_mode"},
		{"published twice", []*shoalv1.PortConfig{port(8080, 80, "", ""), port(8080, 81, "tcp", "host")}, "ports[1].published_port 8080/tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validatePorts(tt.ports)
			expectInvalid(t, err, tt.field)
		})
	}
}

func TestProcessTasksPublishTheirOwnPortInHostModeOnly(t *testing.T) {
	tests := []struct {
		name  string
		port  *shoalv1.PortConfig
		field string
	}{
		{"host mode, its own port", &shoalv1.PortConfig{PublishedPort: 9100, TargetPort: 9100, PublishMode: "host"}, ""},
		{"ingress", &shoalv1.PortConfig{PublishedPort: 9100, TargetPort: 9100}, "publish_mode"},
		{"another port", &shoalv1.PortConfig{PublishedPort: 9200, TargetPort: 9100, PublishMode: "host"}, "published_port 9200"},
		{"dynamic", &shoalv1.PortConfig{TargetPort: 9100, PublishMode: "host"}, "published_port 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := goodSpec()
			sp.Endpoint = &shoalv1.EndpointSpec{Ports: []*shoalv1.PortConfig{tt.port}}
			err := validateServiceSpec(sp)
			expectInvalid(t, err, tt.field)
		})
	}
}

func publishing(name string, ports ...*shoalv1.PortConfig) *shoalv1.ServiceSpec {
	sp := containerSpec("busybox")
	sp.Name = name
	sp.Endpoint = &shoalv1.EndpointSpec{Ports: ports}
	return sp
}

func TestPublishedPortsJoinTheIngressAndConflictsNameTheOtherService(t *testing.T) {
	s, st, _ := newTestServer(t, Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true})
	ctx := context.Background()
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.Create(IngressNetwork("ing")) }); err != nil {
		t.Fatal(err)
	}
	create := func(sp *shoalv1.ServiceSpec) (*shoalv1.Service, error) {
		res, err := s.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{Spec: sp}))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetService(), nil
	}
	web, err := create(publishing("web", &shoalv1.PortConfig{PublishedPort: 8080, TargetPort: 80}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(web.GetSpec().GetNetworks(), []string{"ing"}) {
		t.Errorf("networks of an ingress-publishing service = %v, want the ingress network", web.GetSpec().GetNetworks())
	}
	host, err := create(publishing("agent", &shoalv1.PortConfig{PublishedPort: 9100, TargetPort: 9100, PublishMode: "host"}))
	if err != nil {
		t.Fatal(err)
	}
	if n := host.GetSpec().GetNetworks(); len(n) != 0 {
		t.Errorf("networks of a host-mode service = %v, want none", n)
	}

	tests := []struct {
		name string
		port *shoalv1.PortConfig
		code connect.Code // 0: accepted
	}{
		{"same port and protocol", &shoalv1.PortConfig{PublishedPort: 8080, TargetPort: 81}, connect.CodeFailedPrecondition},
		{"host mode on an ingress port", &shoalv1.PortConfig{PublishedPort: 8080, TargetPort: 81, PublishMode: "host"}, connect.CodeFailedPrecondition},
		{"ingress on a host-mode port", &shoalv1.PortConfig{PublishedPort: 9100, TargetPort: 81}, connect.CodeFailedPrecondition},
		{"same number in udp", &shoalv1.PortConfig{PublishedPort: 8080, TargetPort: 81, Protocol: "udp"}, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := create(publishing("other"+string(rune('a'+i)), tt.port))
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("err = %v, want accepted", err)
				}
				return
			}
			if codeOf(err) != tt.code || !strings.Contains(err.Error(), "already publishes") {
				t.Fatalf("err = %v, want %v naming the other service", err, tt.code)
			}
		})
	}

	t.Run("an update to a taken port names the service", func(t *testing.T) {
		_, err := s.UpdateService(ctx, connect.NewRequest(&shoalv1.UpdateServiceRequest{Service: "agent",
			Spec: publishing("agent", &shoalv1.PortConfig{PublishedPort: 8080, TargetPort: 9100, PublishMode: "host"})}))
		if codeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), `service "web"`) {
			t.Fatalf("err = %v, want FailedPrecondition naming service \"web\"", err)
		}
	})
	t.Run("an update dropping the ingress ports leaves the ingress network", func(t *testing.T) {
		res, err := s.UpdateService(ctx, connect.NewRequest(&shoalv1.UpdateServiceRequest{Service: "web", Spec: publishing("web")}))
		if err != nil {
			t.Fatal(err)
		}
		if n := res.Msg.GetService().GetSpec().GetNetworks(); len(n) != 0 {
			t.Errorf("networks = %v, want none", n)
		}
	})
}

func TestIngressModeWithoutAnIngressNetworkIsRefused(t *testing.T) {
	s, _, _ := newTestServer(t, Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true})
	_, err := s.CreateService(context.Background(), connect.NewRequest(&shoalv1.CreateServiceRequest{
		Spec: publishing("web", &shoalv1.PortConfig{PublishedPort: 8080, TargetPort: 80})}))
	if codeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "mode=host") {
		t.Fatalf("err = %v, want FailedPrecondition suggesting mode=host", err)
	}
}

// expectInvalid checks err is nil for field "", else InvalidArgument naming field.
func expectInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("err = %v, want none", err)
		}
		return
	}
	if codeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), field) {
		t.Fatalf("err = %v, want InvalidArgument naming %s", err, field)
	}
}

func TestTheIngressNetworkCannotBeRemovedNorCreated(t *testing.T) {
	s, st, _ := newTestServer(t, Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true})
	ctx := context.Background()
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.Create(IngressNetwork("ing")) }); err != nil {
		t.Fatal(err)
	}
	_, err := s.RemoveNetwork(ctx, connect.NewRequest(&shoalv1.RemoveNetworkRequest{Network: "ingress"}))
	if codeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "routing mesh") {
		t.Errorf("network rm ingress: err = %v, want FailedPrecondition", err)
	}
	_, err = s.CreateNetwork(ctx, connect.NewRequest(&shoalv1.CreateNetworkRequest{Spec: &shoalv1.NetworkSpec{Name: "mesh2", Ingress: true}}))
	expectInvalid(t, err, "spec.ingress")
}
