package dispatcher

import (
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
				Endpoint: &shoalv1.Endpoint{VirtualIps: []*shoalv1.Attachment{{NetworkId: "net1", Addresses: []string{"10.0.0.2/24"}}}}},
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
	c := h.client("n1")
	sess, _ := h.openSession(c, "n1", Version)
	as, err := c.Assignments(h.ctx, connect.NewRequest(&shoalv1.AssignmentsRequest{SessionId: sess.GetSessionId()}))
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	if !as.Receive() {
		t.Fatal(as.Err())
	}
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
			Ports: []*shoalv1.PortConfig{{Protocol: "tcp", TargetPort: 80}}}}}}
	got := as.Msg().GetNetworks()
	if len(got) != len(want) || !proto.Equal(got[0], want[0]) {
		t.Fatalf("networks = %v, want %v", got, want)
	}
}
