package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
)

// registers is how many registers each round writes.
const registers = 2

// round is one round's names and histories.
type round struct {
	n     int
	regs  *History
	set   *History
	setID string

	mu    sync.Mutex
	acked []string // set elements whose add was acknowledged
	seq   atomic.Int64
}

func newRound(n int, start time.Time) *round {
	return &round{n: n, regs: NewHistory(start), set: NewHistory(start), setID: fmt.Sprintf("r%d-s", n)}
}

func (r *round) regKey(k int) string { return fmt.Sprintf("r%d-reg%d", r.n, k) }

// outcome classifies a write's error: an Aborted compare-and-set (stale
// version) and a refused argument did not happen; anything else may have.
func outcome(err error) Outcome {
	switch connect.CodeOf(err) {
	case connect.CodeAborted, connect.CodeInvalidArgument:
		return Failed
	}
	if err == nil {
		return OK
	}
	return Unknown
}

func serviceSpec(name string, labels map[string]string) *shoalv1.ServiceSpec {
	return &shoalv1.ServiceSpec{
		Name:   name,
		Labels: labels,
		Task:   &shoalv1.TaskSpec{Runtime: &shoalv1.TaskSpec_Container{Container: &shoalv1.ContainerSpec{Image: "busybox"}}},
		Mode:   &shoalv1.ServiceSpec_Replicated{Replicated: &shoalv1.ReplicatedMode{Replicas: 1}},
	}
}

// readReg reads register key through api and records it; ok is false when
// the read failed (a failed read says nothing and is not recorded).
func (r *round) readReg(api *client.Client, clientID int, key string) (svc *shoalv1.Service, ok bool) {
	call := time.Now()
	res, err := api.Control.GetService(context.Background(), connect.NewRequest(&shoalv1.GetServiceRequest{Service: key}))
	if err != nil {
		return nil, false
	}
	svc = res.Msg.GetService()
	r.regs.Record(clientID, call, time.Now(), RegInput{Key: key, Read: true}, RegOutput{Value: svc.GetSpec().GetLabels()["v"]})
	return svc, true
}

// casReg writes value to register key through api if it is still at svc's
// version, and records it.
func (r *round) casReg(api *client.Client, clientID int, key string, svc *shoalv1.Service, value string) Outcome {
	spec := serviceSpec(key, map[string]string{"v": value})
	call := time.Now()
	_, err := api.Control.UpdateService(context.Background(), connect.NewRequest(&shoalv1.UpdateServiceRequest{
		Service: svc.GetId(), Version: svc.GetMeta().GetVersion(), Spec: spec,
	}))
	o := outcome(err)
	r.regs.Record(clientID, call, time.Now(), RegInput{Key: key, From: svc.GetSpec().GetLabels()["v"], To: value}, RegOutput{Outcome: o})
	return o
}

// addElem creates service elem (an element of the round's set).
func (r *round) addElem(api *client.Client, clientID int, elem string) {
	call := time.Now()
	_, err := api.Control.CreateService(context.Background(), connect.NewRequest(&shoalv1.CreateServiceRequest{Spec: serviceSpec(elem, nil)}))
	o := outcome(err)
	r.set.Record(clientID, call, time.Now(), SetInput{Set: r.setID, Elem: elem}, SetOutput{Outcome: o})
	if o == OK {
		r.mu.Lock()
		r.acked = append(r.acked, elem)
		r.mu.Unlock()
	}
}

// readSet lists the services through api and records the round's set.
func (r *round) readSet(api *client.Client, clientID int) {
	call := time.Now()
	res, err := api.Control.ListServices(context.Background(), connect.NewRequest(&shoalv1.ListServicesRequest{}))
	if err != nil {
		return
	}
	r.set.Record(clientID, call, time.Now(), SetInput{Set: r.setID, Read: true}, SetOutput{Elems: r.members(res.Msg.GetServices())})
}

// members returns the names of the round's set elements in svcs, sorted.
func (r *round) members(svcs []*shoalv1.Service) []string {
	var out []string
	for _, s := range svcs {
		if name := s.GetSpec().GetName(); strings.HasPrefix(name, r.setID) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// counter hands out unique register values across the run.
var counter atomic.Int64

// runClient does random operations through random managers until ctx ends.
func (r *round) runClient(ctx context.Context, id int, rng *rand.Rand, apis []*client.Client) {
	for ctx.Err() == nil {
		api := apis[rng.IntN(len(apis))]
		key := r.regKey(rng.IntN(registers))
		switch p := rng.IntN(10); {
		case p < 3:
			r.readReg(api, id, key)
		case p < 6:
			if svc, ok := r.readReg(api, id, key); ok {
				r.casReg(api, id, key, svc, fmt.Sprintf("c%d-%d", id, counter.Add(1)))
			}
		case p < 8:
			r.addElem(api, id, fmt.Sprintf("%s%d-%d", r.setID, id, r.seq.Add(1)))
		default:
			r.readSet(api, id)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(10+rng.IntN(40)) * time.Millisecond):
		}
	}
}
