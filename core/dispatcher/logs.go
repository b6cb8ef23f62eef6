package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"connectrpc.com/connect"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// logSub is one log subscription. Its run goroutine owns out and the set of
// nodes it still waits for; publishers hand it lines through in.
type logSub struct {
	id       string
	follow   bool
	nodes    map[string][]string // node -> task IDs (read-only after creation)
	in       chan []*shoalv1.LogLine
	nodeDone chan string
	ended    chan struct{} // closed when run returns
	cancelFn context.CancelFunc
	once     sync.Once
}

func (s *logSub) cancel() { s.once.Do(s.cancelFn) }

// nodeFinished tells the subscription the node will send nothing more.
func (s *logSub) nodeFinished(nodeID string) {
	go func() {
		select {
		case s.nodeDone <- nodeID:
		case <-s.ended:
		}
	}()
}

// nodeGoneLocked ends the node's part in every subscription that does not
// follow (its session ended). A follow subscription keeps waiting for the
// node: resubscribeLocked hands it to the node's next session. d.mu is held.
func (d *Dispatcher) nodeGoneLocked(nodeID string) {
	for _, sub := range d.subs {
		if _, ok := sub.nodes[nodeID]; ok && !sub.follow {
			sub.nodeFinished(nodeID)
		}
	}
}

// resubscribeLocked pushes the follow subscriptions that wait for nodeID to
// its new session s, asking only for lines from now on (those written while
// the node had no session are not replayed). d.mu is held.
func (d *Dispatcher) resubscribeLocked(nodeID string, s *session) {
	for _, sub := range d.subs {
		if tasks, ok := sub.nodes[nodeID]; ok && sub.follow {
			s.pushSub(&shoalv1.LogSubscription{Id: sub.id, TaskIds: slices.Clone(tasks), Follow: true, Tail: 0})
		}
	}
}

// SubscribeLogs asks the nodes for the logs of their tasks (nodeTaskIDs:
// node ID -> task IDs) and returns a channel of their lines. tail is the
// number of past lines per task (-1: all). Without follow the channel is
// closed once every node sent its last line (or its session ended); with
// follow, when ctx ends, and a node that reconnects gets the subscription
// again on its new session. Nodes without a session are skipped; if none of
// them has one, ErrNoNodesConnected is returned.
func (d *Dispatcher) SubscribeLogs(ctx context.Context, nodeTaskIDs map[string][]string, follow bool, tail int64) (<-chan *shoalv1.LogLine, error) {
	ctx, cancel := context.WithCancel(ctx)
	sub := &logSub{
		id:       newID(),
		follow:   follow,
		nodes:    make(map[string][]string),
		in:       make(chan []*shoalv1.LogLine),
		nodeDone: make(chan string),
		ended:    make(chan struct{}),
		cancelFn: cancel,
	}
	out := make(chan *shoalv1.LogLine, 256)
	nodeIDs := make([]string, 0, len(nodeTaskIDs))
	for n := range nodeTaskIDs {
		nodeIDs = append(nodeIDs, n)
	}
	slices.Sort(nodeIDs)

	d.mu.Lock()
	if !d.running {
		d.mu.Unlock()
		cancel()
		return nil, ErrNotRunning
	}
	var skipped []string
	for _, n := range nodeIDs {
		tasks := nodeTaskIDs[n]
		e := d.nodes[n]
		if e == nil || e.sess == nil || len(tasks) == 0 {
			skipped = append(skipped, n)
			continue
		}
		sub.nodes[n] = slices.Clone(tasks)
		e.sess.pushSub(&shoalv1.LogSubscription{Id: sub.id, TaskIds: slices.Clone(tasks), Follow: follow, Tail: tail})
	}
	if len(sub.nodes) == 0 {
		d.mu.Unlock()
		cancel()
		return nil, fmt.Errorf("%w: %v", ErrNoNodesConnected, skipped)
	}
	d.subs[sub.id] = sub
	d.mu.Unlock()
	if len(skipped) > 0 {
		d.log.Info("log subscription skips nodes without a session", "subscription", sub.id, "nodes", skipped)
	}
	go d.runSub(ctx, sub, out)
	return out, nil
}

func (d *Dispatcher) runSub(ctx context.Context, sub *logSub, out chan<- *shoalv1.LogLine) {
	waiting := make(map[string]bool, len(sub.nodes))
	for n := range sub.nodes {
		waiting[n] = true
	}
	defer func() {
		close(sub.ended)
		close(out)
		sub.cancel()
		d.mu.Lock()
		delete(d.subs, sub.id)
		// Tell the nodes still sending to stop.
		for n := range waiting {
			if e := d.nodes[n]; e != nil && e.sess != nil {
				e.sess.pushSub(&shoalv1.LogSubscription{Id: sub.id, Close: true})
			}
		}
		d.mu.Unlock()
	}()
	for len(waiting) > 0 {
		select {
		case <-ctx.Done():
			return
		case n := <-sub.nodeDone:
			delete(waiting, n)
		case lines := <-sub.in:
			for _, l := range lines {
				select {
				case out <- l:
				case <-ctx.Done():
					return
				}
			}
		}
	}
}

// errSubEnded tells a publishing agent the subscription is gone.
var errSubEnded = errors.New("dispatcher: log subscription ended")

// PublishLogs relays a node's log lines to the subscription they answer.
// The node sets done on its last message of a non-follow subscription; a
// stream that ends without done also finishes the node's part.
func (d *Dispatcher) PublishLogs(ctx context.Context, stream *connect.ClientStream[shoalv1.PublishLogsRequest]) (*connect.Response[shoalv1.PublishLogsResponse], error) {
	nodeID, _, err := d.caller(ctx)
	if err != nil {
		return nil, err
	}
	open := make(map[string]*logSub) // subscriptions this stream published to and did not finish
	defer func() {
		for _, sub := range open {
			// A broken stream of a follow subscription is the node
			// reconnecting: its next session gets the subscription again.
			if !sub.follow {
				sub.nodeFinished(nodeID)
			}
		}
	}()
	for stream.Receive() {
		msg := stream.Msg()
		sub, ok := open[msg.GetSubscriptionId()]
		if !ok {
			d.mu.Lock()
			sub = d.subs[msg.GetSubscriptionId()]
			d.mu.Unlock()
			if sub == nil {
				return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("%w: %s", errSubEnded, msg.GetSubscriptionId()))
			}
			if _, mine := sub.nodes[nodeID]; !mine {
				return nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("subscription %s was not sent to node %s", sub.id, nodeID))
			}
			open[sub.id] = sub
		}
		if lines := msg.GetLines(); len(lines) > 0 {
			for _, l := range lines {
				l.NodeId = nodeID
			}
			select {
			case sub.in <- lines:
			case <-sub.ended:
				delete(open, sub.id)
				return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("%w: %s", errSubEnded, sub.id))
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if msg.GetDone() {
			delete(open, sub.id)
			sub.nodeFinished(nodeID)
		}
	}
	if err := stream.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return connect.NewResponse(&shoalv1.PublishLogsResponse{}), nil
}
