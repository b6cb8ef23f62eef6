package auth

import (
	"context"

	"connectrpc.com/connect"
)

// NewInterceptor returns a connect.Interceptor that enforces policy on the
// handler side of unary and streaming RPCs (client-side calls pass
// through). It reads the caller put in the context by Middleware; without
// Middleware every non-public procedure is Unauthenticated. policy is
// copied.
func NewInterceptor(policy Policy) connect.Interceptor {
	return &interceptor{policy: policy.clone()}
}

type interceptor struct {
	policy Policy
}

func (i *interceptor) check(ctx context.Context, procedure string) error {
	id, ok := FromContext(ctx)
	reason := ""
	if !ok {
		reason = anonymousReason(ctx)
	}
	return i.policy.authorize(procedure, id, ok, reason)
}

func (i *interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		if err := i.check(ctx, req.Spec().Procedure); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (i *interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if err := i.check(ctx, conn.Spec().Procedure); err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
