package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"connectrpc.com/connect"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// errCallTimeout is the cause of a call's context when its deadline passed.
var errCallTimeout = errors.New("call deadline passed")

// callDeadline is a client interceptor: every call gets a deadline, except
// a stream whose request asks to follow (service logs --follow), an event
// stream (WatchEvents) and a call whose context already has one (a command
// that waits on bounded work on the manager sets its own, longer than the
// manager's bound), and an error says
// which manager did not answer.
type callDeadline struct {
	timeout time.Duration
	// target names the manager: its address or its admin socket.
	target string
}

// follower is a request that can ask to follow a stream.
type follower interface{ GetFollow() bool }

func (d callDeadline) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if _, ok := ctx.Deadline(); ok {
			return next(ctx, req)
		}
		ctx, cancel := context.WithTimeoutCause(ctx, d.timeout, errCallTimeout)
		defer cancel()
		res, err := next(ctx, req)
		return res, d.explain(ctx, err)
	}
}

func (d callDeadline) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		ctx, cancel := context.WithCancelCause(ctx)
		timer := time.AfterFunc(d.timeout, func() { cancel(errCallTimeout) })
		return &deadlineConn{StreamingClientConn: next(ctx, spec), d: d, ctx: ctx, timer: timer, cancel: cancel}
	}
}

func (callDeadline) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// explain names the manager in an error that came from not reaching it.
func (d callDeadline) explain(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(context.Cause(ctx), errCallTimeout) {
		return connect.NewError(connect.CodeDeadlineExceeded, fmt.Errorf("no answer from the manager at %s within %s (set --timeout to wait longer)", d.target, d.timeout))
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return connect.NewError(connect.CodeUnavailable, fmt.Errorf("cannot reach the manager at %s: %w", d.target, op))
	}
	return err
}

type deadlineConn struct {
	connect.StreamingClientConn
	d      callDeadline
	ctx    context.Context
	timer  *time.Timer
	cancel context.CancelCauseFunc
}

func (c *deadlineConn) Send(msg any) error {
	if f, ok := msg.(follower); ok && f.GetFollow() {
		c.timer.Stop()
	}
	if _, ok := msg.(*shoalv1.WatchEventsRequest); ok {
		c.timer.Stop() // an event stream follows until the caller stops it
	}
	return c.d.explain(c.ctx, c.StreamingClientConn.Send(msg))
}

func (c *deadlineConn) Receive(msg any) error {
	return c.d.explain(c.ctx, c.StreamingClientConn.Receive(msg))
}

func (c *deadlineConn) CloseResponse() error {
	err := c.StreamingClientConn.CloseResponse()
	c.timer.Stop()
	c.cancel(nil)
	return err
}
