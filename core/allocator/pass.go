package allocator

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/sdk"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ErrInvalidAnswer is wrapped when a policy's answer fails validation.
var ErrInvalidAnswer = errors.New("allocator: invalid policy answer")

// errSkip drops one write whose object changed since the pass read it.
var errSkip = errors.New("allocator: object changed")

// PassStats says what one pass did.
type PassStats struct {
	New       int // NEW tasks considered
	Allocated int // tasks moved to PENDING
	Failed    int // tasks left NEW with a reason
	Services  int // service endpoints (re)allocated
	Fallbacks int // policy answers redone natively
}

// svcPlan is the endpoint work for one service.
type svcPlan struct {
	svc     *shoalv1.Service // shared
	ports   []*shoalv1.PortConfig
	dynamic []int // indexes into ports needing a dynamic port
	changed bool
	err     string // endpoint allocation failure

	vips       []*shoalv1.Attachment // one per network of the spec that exists
	vipNets    []int                 // indexes into vips needing an address
	vipReqs    []int                 // indexes into the request's Addresses
	vipChanged bool
}

type taskPlan struct {
	t    *shoalv1.Task // shared
	sp   *svcPlan
	reqs []int // indexes into the request's Addresses
	err  string
	// waiting: err is admit's (no room counted), not the policy's answer.
	waiting bool
}

// Pass allocates every NEW task once. Run calls it; tests may call it
// directly (never concurrently with Run).
func (a *Allocator) Pass(ctx context.Context) (PassStats, error) {
	var stats PassStats
	req := &sdk.AllocateRequest{PortRangeStart: a.portLo, PortRangeEnd: a.portHi}
	nets := make(map[string]*shoalv1.Network)
	plans := make(map[string]*svcPlan)
	var tasks []*taskPlan
	err := a.st.View(func(tx store.ReadTx) error {
		if err := tx.Range(store.KindNetwork, store.All(), func(o store.Object) bool {
			nets[o.GetId()] = o.(*shoalv1.Network)
			return true
		}); err != nil {
			return err
		}
		if err := tx.Range(store.KindService, store.All(), func(o store.Object) bool {
			svc := o.(*shoalv1.Service)
			sp := planEndpoint(svc)
			planVIPs(sp, nets)
			plans[svc.GetId()] = sp
			for _, p := range svc.GetEndpoint().GetPorts() {
				if p.GetPublishedPort() != 0 {
					req.UsedPorts = append(req.UsedPorts, sdk.UsedPort{Protocol: protocol(p), Port: p.GetPublishedPort()})
				}
			}
			for _, p := range sp.ports {
				if p.GetPublishedPort() != 0 {
					req.UsedPorts = append(req.UsedPorts, sdk.UsedPort{Protocol: protocol(p), Port: p.GetPublishedPort()})
				}
			}
			return true
		}); err != nil {
			return err
		}
		if err := tx.Range(store.KindTask, store.ByTaskState(stateNew), func(o store.Object) bool {
			t := o.(*shoalv1.Task)
			if t.GetDesiredState() <= stateRunning && plans[t.GetServiceId()] != nil {
				tasks = append(tasks, &taskPlan{t: t, sp: plans[t.GetServiceId()]})
			}
			return true
		}); err != nil {
			return err
		}
		needAddrs := false
		for _, sp := range plans {
			needAddrs = needAddrs || len(sp.vipNets) > 0
		}
		for _, tp := range tasks {
			if len(tp.sp.svc.GetSpec().GetNetworks()) > 0 {
				needAddrs = true
				break
			}
		}
		if !needAddrs {
			return nil
		}
		// Addresses held by tasks that have not stopped, VIPs and nodes.
		used := make(map[string][]string)
		if err := rangeUsed(tx, func(at *shoalv1.Attachment) {
			used[at.GetNetworkId()] = append(used[at.GetNetworkId()], at.GetAddresses()...)
		}); err != nil {
			return err
		}
		for _, id := range sortedKeys(nets) {
			n := nets[id]
			req.Networks = append(req.Networks, sdk.Network{ID: id, Subnet: subnetOf(n),
				Gateway: gatewayOf(n), Allocated: used[id]})
		}
		return nil
	})
	if err != nil {
		return stats, fmt.Errorf("allocator: read: %w", err)
	}
	stats.New = len(tasks)

	// Build the requests: dynamic ports of services that need them, then
	// an address per (task, network of its service).
	for _, id := range sortedKeys(plans) {
		sp := plans[id]
		for _, pi := range sp.dynamic {
			p := sp.ports[pi]
			req.Ports = append(req.Ports, sdk.PortRequest{
				ID:       fmt.Sprintf("%s/%d/%s", id, p.GetTargetPort(), protocol(p)),
				Protocol: protocol(p),
			})
		}
	}
	for _, tp := range tasks {
		for _, nid := range tp.sp.svc.GetSpec().GetNetworks() {
			if nets[nid] == nil {
				tp.err = fmt.Sprintf("network %s not found", nid)
				break
			}
		}
	}

	var resp *sdk.AllocateResponse
	resp, stats.Fallbacks = a.allocateAddresses(ctx, req, plans, tasks, nets)

	// Ports back into their services.
	k := 0
	for _, id := range sortedKeys(plans) {
		sp := plans[id]
		for _, pi := range sp.dynamic {
			r := resp.Ports[k]
			k++
			if r.Code != sdk.AllocOK {
				sp.err = "published port: " + r.Code.String()
				continue
			}
			sp.ports[pi].PublishedPort = r.Port
			sp.changed = true
		}
	}

	for _, sp := range plans {
		a.takeVIPs(sp, resp)
	}
	now := timestamppb.New(a.clock.Now())
	return a.commit(ctx, plans, tasks, resp, nets, now, stats)
}

// allocate asks the policy and validates its answer, falling back to the
// native policy when it fails.
func (a *Allocator) allocate(ctx context.Context, req *sdk.AllocateRequest) (*sdk.AllocateResponse, int) {
	resp, err := a.policy.Allocate(ctx, req)
	if err == nil {
		err = validate(req, resp)
	}
	if err == nil {
		return resp, 0
	}
	a.log.Warn("allocator: policy failed; using the native policy", "err", err)
	resp, _ = a.native.Allocate(context.WithoutCancel(ctx), req)
	return resp, 1
}

func (a *Allocator) commit(ctx context.Context, plans map[string]*svcPlan, tasks []*taskPlan,
	resp *sdk.AllocateResponse, nets map[string]*shoalv1.Network, now *timestamppb.Timestamp, stats PassStats) (PassStats, error) {
	skipped := make(map[string]bool) // services whose endpoint write failed
	err := a.st.Batch(ctx, func(b *store.Batch) error {
		for _, id := range sortedKeys(plans) {
			sp := plans[id]
			ports := sp.changed && sp.err == ""
			if !ports && !sp.vipChanged {
				continue
			}
			err := b.Update(func(tx store.Tx) error {
				s := tx.GetService(id)
				if s == nil || s.GetMeta().GetVersion() != sp.svc.GetMeta().GetVersion() {
					return errSkip
				}
				s = proto.CloneOf(s) // reads are shared: change a copy
				if s.Endpoint == nil {
					s.Endpoint = &shoalv1.Endpoint{}
				}
				if ports {
					s.Endpoint.Ports = sp.ports
				}
				if sp.vipChanged {
					s.Endpoint.VirtualIps = allocatedVIPs(sp.vips)
				}
				return tx.Update(s)
			})
			switch {
			case err == nil:
				stats.Services++
			case errors.Is(err, errSkip):
				skipped[id] = true
			default:
				return err
			}
		}
		for _, tp := range tasks {
			if skipped[tp.t.GetServiceId()] {
				continue
			}
			reason := tp.err
			if reason == "" {
				reason = tp.sp.err
			}
			var attach []*shoalv1.Attachment
			if reason == "" {
				for i, ri := range tp.reqs {
					r := resp.Addresses[ri]
					nid := tp.sp.svc.GetSpec().GetNetworks()[i]
					if r.Code != sdk.AllocOK {
						reason = failReason(nets[nid], r.Code)
						break
					}
					attach = append(attach, &shoalv1.Attachment{NetworkId: nid, Addresses: []string{r.Address}})
				}
			}
			if reason != "" {
				stats.Failed++
				if reason == tp.t.GetStatus().GetErr() {
					continue
				}
			}
			err := b.Update(func(tx store.Tx) error {
				t := tx.GetTask(tp.t.GetId())
				if t == nil || t.GetStatus().GetState() != stateNew || t.GetDesiredState() > stateRunning {
					return errSkip
				}
				// Reads are shared: change a shallow copy with a status of its
				// own; the spec stays shared with the service's other tasks.
				t = store.ShallowCopy(t)
				if t.Status == nil {
					t.Status = &shoalv1.TaskStatus{}
				} else {
					t.Status = proto.CloneOf(t.Status)
				}
				if reason != "" {
					t.Status.Err = reason
					return tx.Update(t)
				}
				t.Networks = attach
				if len(tp.sp.ports) > 0 {
					t.Endpoint = &shoalv1.Endpoint{Ports: tp.sp.ports}
				}
				t.Status.State = statePending
				t.Status.Message = "allocated"
				t.Status.Err = ""
				t.Status.Timestamp = now
				return tx.Update(t)
			})
			switch {
			case err == nil && reason == "":
				stats.Allocated++
			case err == nil, errors.Is(err, errSkip):
			default:
				return err
			}
		}
		return nil
	})
	if err != nil {
		return stats, fmt.Errorf("allocator: commit: %w", err)
	}
	return stats, nil
}

// planEndpoint resolves a service's spec ports against its current
// endpoint: static ports as given, dynamic ones kept when already
// allocated, else marked for allocation.
func planEndpoint(svc *shoalv1.Service) *svcPlan {
	sp := &svcPlan{svc: svc}
	prev := svc.GetEndpoint().GetPorts()
	for _, p := range svc.GetSpec().GetEndpoint().GetPorts() {
		out := proto.Clone(p).(*shoalv1.PortConfig)
		out.Protocol = protocol(p)
		if out.PublishedPort == 0 {
			for _, q := range prev {
				if q.GetPublishedPort() != 0 && q.GetTargetPort() == p.GetTargetPort() &&
					protocol(q) == out.Protocol && q.GetName() == p.GetName() {
					out.PublishedPort = q.GetPublishedPort()
					break
				}
			}
			if out.PublishedPort == 0 {
				sp.dynamic = append(sp.dynamic, len(sp.ports))
			}
		}
		sp.ports = append(sp.ports, out)
	}
	sp.changed = !slices.EqualFunc(sp.ports, prev, func(a, b *shoalv1.PortConfig) bool { return proto.Equal(a, b) })
	return sp
}

func protocol(p *shoalv1.PortConfig) string {
	if p.GetProtocol() == "" {
		return "tcp"
	}
	return strings.ToLower(p.GetProtocol())
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// validate checks a policy's answer: one result per request, every
// address inside its network's subnet and neither taken nor handed out
// twice, every port inside the range and free.
func validate(req *sdk.AllocateRequest, resp *sdk.AllocateResponse) error {
	if resp == nil {
		return fmt.Errorf("%w: no answer", ErrInvalidAnswer)
	}
	if resp.Error != "" {
		return fmt.Errorf("%w: %s", ErrInvalidAnswer, resp.Error)
	}
	if len(resp.Addresses) != len(req.Addresses) || len(resp.Ports) != len(req.Ports) {
		return fmt.Errorf("%w: %d/%d results for %d/%d requests", ErrInvalidAnswer,
			len(resp.Addresses), len(resp.Ports), len(req.Addresses), len(req.Ports))
	}
	type netState struct {
		prefix netip.Prefix
		used   map[netip.Addr]bool
	}
	nets := make(map[string]*netState)
	for _, n := range req.Networks {
		p, err := netip.ParsePrefix(n.Subnet)
		ns := &netState{prefix: p.Masked(), used: make(map[netip.Addr]bool)}
		if err != nil {
			ns.prefix = netip.Prefix{}
		}
		ns.used[ns.prefix.Addr()] = true
		if gw, err := netip.ParseAddr(n.Gateway); err == nil {
			ns.used[gw] = true
		}
		for _, s := range n.Allocated {
			if a, ok := parseAddr(s); ok {
				ns.used[a] = true
			}
		}
		nets[n.ID] = ns
	}
	for i, r := range resp.Addresses {
		if r.Code != sdk.AllocOK {
			continue
		}
		ns := nets[req.Addresses[i].NetworkID]
		p, err := netip.ParsePrefix(r.Address)
		switch {
		case ns == nil || !ns.prefix.IsValid():
			return fmt.Errorf("%w: address %q on unknown or invalid network %s", ErrInvalidAnswer, r.Address, req.Addresses[i].NetworkID)
		case err != nil || p.Bits() != ns.prefix.Bits() || !ns.prefix.Contains(p.Addr()):
			return fmt.Errorf("%w: address %q not in %s", ErrInvalidAnswer, r.Address, ns.prefix)
		case ns.used[p.Addr()]:
			return fmt.Errorf("%w: address %q already in use", ErrInvalidAnswer, r.Address)
		}
		ns.used[p.Addr()] = true
	}
	used := make(map[string]map[uint32]bool)
	for _, u := range req.UsedPorts {
		if used[u.Protocol] == nil {
			used[u.Protocol] = make(map[uint32]bool)
		}
		used[u.Protocol][u.Port] = true
	}
	lo, hi := req.PortRangeStart, req.PortRangeEnd
	if lo == 0 {
		lo = sdk.DefaultPortRangeStart
	}
	if hi == 0 {
		hi = sdk.DefaultPortRangeEnd
	}
	for i, r := range resp.Ports {
		if r.Code != sdk.AllocOK {
			continue
		}
		proto := req.Ports[i].Protocol
		if r.Port < lo || r.Port > hi || used[proto][r.Port] {
			return fmt.Errorf("%w: port %d/%s outside %d-%d or in use", ErrInvalidAnswer, r.Port, proto, lo, hi)
		}
		if used[proto] == nil {
			used[proto] = make(map[uint32]bool)
		}
		used[proto][r.Port] = true
	}
	return nil
}

func parseAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}
