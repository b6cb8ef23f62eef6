package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/types/known/timestamppb"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/runtime"
)

// maxLinesPerMessage bounds one PublishLogs message.
const maxLinesPerMessage = 256

// publishLogs answers one log subscription: it reads the logs of the
// subscribed tasks this node runs and sends them up, then done.
func (a *Agent) publishLogs(ctx context.Context, client shoalv1connect.DispatcherServiceClient, sub *shoalv1.LogSubscription) error {
	lines := make(chan *shoalv1.LogLine, maxLinesPerMessage)
	var wg sync.WaitGroup
	for _, id := range sub.GetTaskIds() {
		t := a.task(id)
		if t == nil {
			continue
		}
		spec, err := SpecFromTask(t)
		if err != nil {
			continue
		}
		ctl, err := a.cfg.Backend.Controller(spec)
		if err != nil {
			a.log.Warn("logs: no controller", "task", id, "err", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw := make(chan runtime.LogLine, 64)
			errc := make(chan error, 1)
			go func() {
				errc <- ctl.Logs(ctx, runtime.LogOptions{Follow: sub.GetFollow(), Tail: int(sub.GetTail())}, raw)
			}()
			// send forwards one line; false once ctx has ended.
			send := func(l runtime.LogLine) bool {
				select {
				case lines <- &shoalv1.LogLine{TaskId: id, Time: timestamppb.New(l.Time), Stream: l.Stream, Data: l.Data, NodeId: a.cfg.NodeID}:
					return true
				case <-ctx.Done():
					return false
				}
			}
			for {
				select {
				case l := <-raw:
					if !send(l) {
						return
					}
				case err := <-errc:
					// Logs returned: drain what it sent before returning.
					for {
						select {
						case l := <-raw:
							if !send(l) {
								return
							}
						default:
							if err != nil && ctx.Err() == nil && !errors.Is(err, runtime.ErrNotFound) {
								a.log.Warn("logs", "task", id, "err", err)
							}
							return
						}
					}
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(lines)
	}()

	pub := client.PublishLogs(ctx)
	send := func(batch []*shoalv1.LogLine, done bool) error {
		return pub.Send(&shoalv1.PublishLogsRequest{SubscriptionId: sub.GetId(), Lines: batch, Done: done})
	}
	for {
		l, ok := <-lines
		if !ok {
			break
		}
		batch := []*shoalv1.LogLine{l}
	fill:
		for len(batch) < maxLinesPerMessage {
			select {
			case l, ok := <-lines:
				if !ok {
					break fill
				}
				batch = append(batch, l)
			default:
				break fill
			}
		}
		if err := send(batch, false); err != nil {
			_, rerr := pub.CloseAndReceive()
			return fmt.Errorf("publish logs: %w", errors.Join(err, rerr))
		}
	}
	if ctx.Err() != nil {
		_, _ = pub.CloseAndReceive()
		return ctx.Err()
	}
	if err := send(nil, true); err != nil {
		_, rerr := pub.CloseAndReceive()
		return fmt.Errorf("publish logs: %w", errors.Join(err, rerr))
	}
	_, err := pub.CloseAndReceive()
	return err
}
