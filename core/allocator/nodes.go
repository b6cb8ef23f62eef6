package allocator

import (
	"context"
	"errors"
	"fmt"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/sdk"
	"google.golang.org/protobuf/proto"
)

// nodeWork is what a node pass needs: the ingress network, the nodes
// without an address on it, and every address in use there.
type nodeWork struct {
	ingress *shoalv1.Network
	nodes   []string
	used    []string
}

// NodePass gives every node without one an address on the ingress network
// (Node.attachments), where the node's routing mesh answers; it returns
// how many it gave. The addresses come from the same policy as the tasks'.
// Run calls it after each Pass; tests may call it directly.
func (a *Allocator) NodePass(ctx context.Context) (int, error) {
	w, err := a.readNodeWork()
	if err != nil || len(w.nodes) == 0 {
		return 0, err
	}
	nid := w.ingress.GetId()
	req := &sdk.AllocateRequest{
		PortRangeStart: a.portLo, PortRangeEnd: a.portHi,
		Networks: []sdk.Network{{ID: nid, Subnet: subnetOf(w.ingress), Gateway: gatewayOf(w.ingress), Allocated: w.used}},
	}
	for _, id := range w.nodes {
		req.Addresses = append(req.Addresses, sdk.AddressRequest{ID: id, NetworkID: nid})
	}
	resp, _ := a.allocate(ctx, req)
	given := 0
	err = a.st.Batch(ctx, func(b *store.Batch) error {
		for i, id := range w.nodes {
			r := resp.Addresses[i]
			if r.Code != sdk.AllocOK {
				a.log.Warn("allocator: no ingress address for node", "node", id, "code", r.Code.String())
				continue
			}
			err := b.Update(func(tx store.Tx) error {
				n := tx.GetNode(id)
				if n == nil || ingressAddr(n, nid) != "" {
					return errSkip
				}
				n = proto.CloneOf(n) // reads are shared: change a copy
				n.Attachments = append(n.Attachments, &shoalv1.Attachment{NetworkId: nid, Addresses: []string{r.Address}})
				return tx.Update(n)
			})
			switch {
			case err == nil:
				given++
			case !errors.Is(err, errSkip):
				return err
			}
		}
		return nil
	})
	if err != nil {
		return given, fmt.Errorf("allocator: node addresses: %w", err)
	}
	return given, nil
}

func (a *Allocator) readNodeWork() (nodeWork, error) {
	var w nodeWork
	err := a.st.View(func(tx store.ReadTx) error {
		_ = tx.Range(store.KindNetwork, store.All(), func(o store.Object) bool {
			if n := o.(*shoalv1.Network); n.GetSpec().GetIngress() {
				w.ingress = n
			}
			return w.ingress == nil
		})
		if w.ingress == nil {
			return nil
		}
		nid := w.ingress.GetId()
		if err := tx.Range(store.KindNode, store.All(), func(o store.Object) bool {
			n := o.(*shoalv1.Node)
			if addr := ingressAddr(n, nid); addr != "" {
				w.used = append(w.used, addr)
			} else {
				w.nodes = append(w.nodes, n.GetId())
			}
			return true
		}); err != nil {
			return err
		}
		if len(w.nodes) == 0 {
			return nil
		}
		return rangeUsed(tx, func(at *shoalv1.Attachment) {
			if at.GetNetworkId() == nid {
				w.used = append(w.used, at.GetAddresses()...)
			}
		})
	})
	return w, err
}

// ingressAddr is n's address on network nid, "" when it has none.
func ingressAddr(n *shoalv1.Node, nid string) string {
	for _, at := range n.GetAttachments() {
		if at.GetNetworkId() == nid && len(at.GetAddresses()) > 0 {
			return at.GetAddresses()[0]
		}
	}
	return ""
}

// rangeUsed calls fn with every attachment holding addresses: services'
// VIPs, tasks that have not stopped, and nodes' own.
func rangeUsed(tx store.ReadTx, fn func(*shoalv1.Attachment)) error {
	if err := tx.Range(store.KindService, store.All(), func(o store.Object) bool {
		for _, at := range o.(*shoalv1.Service).GetEndpoint().GetVirtualIps() {
			fn(at)
		}
		return true
	}); err != nil {
		return err
	}
	if err := tx.Range(store.KindNode, store.All(), func(o store.Object) bool {
		for _, at := range o.(*shoalv1.Node).GetAttachments() {
			fn(at)
		}
		return true
	}); err != nil {
		return err
	}
	return tx.Range(store.KindTask, store.All(), func(o store.Object) bool {
		t := o.(*shoalv1.Task)
		if t.GetStatus().GetState() < stateComplete {
			for _, at := range t.GetNetworks() {
				fn(at)
			}
		}
		return true
	})
}
