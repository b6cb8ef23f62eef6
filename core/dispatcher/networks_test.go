package dispatcher

import (
	"errors"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func TestAssignmentsCarryTheTasksNetworksAndVIPs(t *testing.T) {
	h := newHarness(t, Config{})
	err := h.st.Update(h.ctx, func(tx store.Tx) error {
		for _, o := range []store.Object{
			&shoalv1.Network{Id: "net1", Spec: &shoalv1.NetworkSpec{Name: "front", Encrypted: true}, Vni: 4096, Subnet: "10.0.0.0/24", Gateway: "10.0.0.1"},
			&shoalv1.Network{Id: "net2", Spec: &shoalv1.NetworkSpec{Name: "unused"}, Vni: 4097, Subnet: "10.0.1.0/24", Gateway: "10.0.1.1"},
			&shoalv1.Service{Id: "svc", Spec: &shoalv1.ServiceSpec{Name: "web", Networks: []string{"net1"},
				Endpoint: &shoalv1.EndpointSpec{Ports: []*shoalv1.PortConfig{{Protocol: "tcp", TargetPort: 80}}}},
				Endpoint: &shoalv1.Endpoint{Ports: []*shoalv1.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 30000}},
					VirtualIps: []*shoalv1.Attachment{{NetworkId: "net1", Addresses: []string{"10.0.0.2/24"}}}}},
		} {
			if err := tx.Create(o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	plain := newTask("t1", "n1", shoalv1.TaskState_TASK_STATE_ASSIGNED, shoalv1.TaskState_TASK_STATE_RUNNING)
	h.createTasks(plain)
	as := h.firstAssignments("n1")
	if n := as.Msg().GetNetworks(); len(n) != 0 {
		t.Fatalf("complete set without attached tasks carries networks %v", n)
	}

	attached := newTask("t2", "n1", shoalv1.TaskState_TASK_STATE_ASSIGNED, shoalv1.TaskState_TASK_STATE_RUNNING)
	attached.Networks = []*shoalv1.Attachment{{NetworkId: "net1", Addresses: []string{"10.0.0.3/24"}}}
	h.createTasks(attached)
	if !as.Receive() {
		t.Fatal(as.Err())
	}
	want := []*shoalv1.NetworkAssignment{{Id: "net1", Name: "front", Vni: 4096, Subnet: "10.0.0.0/24", Gateway: "10.0.0.1", Encrypted: true,
		Vips: []*shoalv1.ServiceVIP{{ServiceId: "svc", ServiceName: "web", Address: "10.0.0.2/24",
			Ports: []*shoalv1.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 30000}}}}}}
	got := as.Msg().GetNetworks()
	if len(got) != len(want) || !proto.Equal(got[0], want[0]) {
		t.Fatalf("networks = %v, want %v", got, want)
	}
}

// A node without tasks still gets the ingress network, its own address on
// it and every ingress service's VIP and published ports, again whenever
// a service changes them.
func TestAssignmentsCarryTheIngressToANodeWithoutTasks(t *testing.T) {
	h := newHarness(t, Config{})
	ingress := &shoalv1.Network{Id: "ing", Spec: &shoalv1.NetworkSpec{Name: "ingress", Ingress: true}, Vni: 4096, Subnet: "10.255.0.0/16", Gateway: "10.255.0.1"}
	node := &shoalv1.Node{Id: "n1", Attachments: []*shoalv1.Attachment{{NetworkId: "ing", Addresses: []string{"10.255.0.9/16"}}}}
	if err := h.st.Update(h.ctx, func(tx store.Tx) error { return errors.Join(tx.Create(ingress), tx.Create(node)) }); err != nil {
		t.Fatal(err)
	}
	as := h.firstAssignments("n1")
	if got := as.Msg(); got.GetIngressAddress() != "10.255.0.9/16" || len(got.GetNetworks()) != 1 || got.GetNetworks()[0].GetId() != "ing" {
		t.Fatalf("complete set: ingress address %q, networks %v; want 10.255.0.9/16 on ing", got.GetIngressAddress(), got.GetNetworks())
	}
	ports := []*shoalv1.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080}}
	svc := &shoalv1.Service{Id: "svc", Spec: &shoalv1.ServiceSpec{Name: "web", Networks: []string{"ing"}},
		Endpoint: &shoalv1.Endpoint{Ports: ports, VirtualIps: []*shoalv1.Attachment{{NetworkId: "ing", Addresses: []string{"10.255.0.2/16"}}}}}
	if err := h.st.Update(h.ctx, func(tx store.Tx) error { return tx.Create(svc) }); err != nil {
		t.Fatal(err)
	}
	if !as.Receive() {
		t.Fatal(as.Err())
	}
	want := &shoalv1.ServiceVIP{ServiceId: "svc", ServiceName: "web", Address: "10.255.0.2/16", Ports: ports}
	if vips := as.Msg().GetNetworks()[0].GetVips(); len(vips) != 1 || !proto.Equal(vips[0], want) {
		t.Fatalf("after the service's creation: VIPs %v, want [%v]", vips, want)
	}
}

// firstAssignments opens node's session and assignment stream and receives
// the complete set.
func (h *harness) firstAssignments(node string) *connect.ServerStreamForClient[shoalv1.AssignmentsMessage] {
	h.t.Helper()
	c := h.client(node)
	sess, _ := h.openSession(c, node, Version)
	as, err := c.Assignments(h.ctx, connect.NewRequest(&shoalv1.AssignmentsRequest{SessionId: sess.GetSessionId()}))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { as.Close() })
	if !as.Receive() {
		h.t.Fatal(as.Err())
	}
	return as
}
