package auth

import (
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
