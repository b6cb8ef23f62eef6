package api

import (
	"context"
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func TestNotFoundNamesTheObjectNotACommand(t *testing.T) {
	s, _, _ := newTestServer(t, Member{RaftID: 1, NodeID: "m1", Leader: true, Reachable: true})
	ctx := context.Background()
	cases := []struct {
		kind, msg string
		call      func() error
	}{
		{KindService, `service "nosuch" not found`, func() error {
			_, err := s.GetService(ctx, connect.NewRequest(&shoalv1.GetServiceRequest{Service: "nosuch"}))
			return err
		}},
		{KindNode, `node "nosuch" not found`, func() error {
			_, err := s.GetNode(ctx, connect.NewRequest(&shoalv1.GetNodeRequest{Node: "nosuch"}))
			return err
		}},
		{KindTask, `task "nosuch" not found`, func() error {
			_, err := s.GetTask(ctx, connect.NewRequest(&shoalv1.GetTaskRequest{Task: "nosuch"}))
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			var ce *connect.Error
			if err := tc.call(); !errors.As(err, &ce) || ce.Code() != connect.CodeNotFound {
				t.Fatalf("err = %v, want NotFound", err)
			}
			if ce.Message() != tc.msg || strings.Contains(ce.Message(), "shoal ") {
				t.Errorf("message %q, want %q", ce.Message(), tc.msg)
			}
			if kind, ref := resourceInfo(t, ce); kind != tc.kind || ref != "nosuch" {
				t.Errorf("ResourceInfo = %s %q, want %s \"nosuch\"", kind, ref, tc.kind)
			}
		})
	}
}

func resourceInfo(t *testing.T, ce *connect.Error) (kind, ref string) {
	t.Helper()
	for _, d := range ce.Details() {
		v, err := d.Value()
		if err != nil {
			t.Fatal(err)
		}
		if ri, ok := v.(*errdetails.ResourceInfo); ok {
			return ri.GetResourceType(), ri.GetResourceName()
		}
	}
	return "", ""
}
