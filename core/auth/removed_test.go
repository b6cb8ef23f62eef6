package auth

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"connectrpc.com/connect"
)

func TestIsNodeRemoved(t *testing.T) {
	// What a client sees: the error rebuilt from the wire, without the
	// wrapped sentinel.
	wire := func(e *connect.Error) error {
		out := connect.NewWireError(e.Code(), errors.New(e.Message()))
		for _, d := range e.Details() {
			out.AddDetail(d)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"server side", NodeRemovedError("n1"), true},
		{"over the wire", wire(NodeRemovedError("n1")), true},
		{"wrapped", fmt.Errorf("session: %w", wire(NodeRemovedError("n1"))), true},
		{"other permission denied", connect.NewError(connect.CodePermissionDenied, errors.New("worker may not call ControlService")), false},
		{"detail under another code", wire(connect.NewError(connect.CodeUnavailable, errors.New("x"))), false},
		{"plain error", errors.New("connection refused"), false},
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsNodeRemoved(tc.err); got != tc.want {
				t.Fatalf("IsNodeRemoved(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestRemovedInterceptor(t *testing.T) {
	ic := NewRemovedInterceptor(func(id string) bool { return id == "gone" })
	call := ic.WrapUnary(func(context.Context, connect.AnyRequest) (connect.AnyResponse, error) { return nil, nil })
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want bool // refused
	}{
		{"removed node", WithIdentity(context.Background(), Identity{NodeID: "gone"}), true},
		{"other node", WithIdentity(context.Background(), Identity{NodeID: "here"}), false},
		{"local admin", WithIdentity(context.Background(), Identity{NodeID: "gone", Local: true}), false},
		{"no identity", context.Background(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := call(tc.ctx, nil)
			if got := IsNodeRemoved(err); got != tc.want {
				t.Fatalf("refused = %v (%v), want %v", got, err, tc.want)
			}
		})
	}
}
