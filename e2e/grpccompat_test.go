package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/core/ca"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/internal/httpclient"
)

// grpcConn dials addr with grpc-go over TLS with conf.
func grpcConn(t *testing.T, addr string, conf *tls.Config) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		t.Fatalf("grpc dial %s: %v", addr, err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// TestGRPCCompat: a stock grpc-go client (not Connect) reaches shoal's
// health and reflection services over mutual TLS, and Connect's own
// reflection client agrees.
func TestGRPCCompat(t *testing.T) {
	c := newCluster(t, "--raft-tick", "50ms")
	m1 := c.init("m1")
	admin, err := ca.LoadClientTLS(filepath.Join(m1.dir, "admin"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := ca.LoadNodeTLS(filepath.Join(m1.dir, "certs"))
	if err != nil {
		t.Fatal(err)
	}
	anon := ca.ClientTLSConfig(root.Root, nil, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// grpc.health.v1: public, so with and without a certificate.
	for name, conf := range map[string]*tls.Config{"admin cert": admin, "no cert": anon} {
		h := healthpb.NewHealthClient(grpcConn(t, m1.addr, conf))
		for _, svc := range []string{"", shoalv1connect.ControlServiceName, shoalv1connect.RaftServiceName} {
			res, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
			if err != nil {
				t.Fatalf("health %q (%s): %v", svc, name, err)
			}
			if res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("health %q (%s): %v, want SERVING", svc, name, res.GetStatus())
			}
		}
		_, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"})
		if status.Code(err) != codes.NotFound {
			t.Fatalf("health of an unknown service (%s): %v, want NotFound", name, err)
		}
		t.Logf("grpc-go health check (%s): SERVING", name)
	}

	// gRPC reflection v1 with grpc-go.
	stream, err := reflectpb.NewServerReflectionClient(grpcConn(t, m1.addr, admin)).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{ListServices: "*"}}); err != nil {
		t.Fatal(err)
	}
	res, err := stream.Recv()
	if err != nil {
		t.Fatalf("reflection ListServices: %v", err)
	}
	var names []string
	for _, s := range res.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !slices.Contains(names, shoalv1connect.ControlServiceName) || !slices.Contains(names, grpchealth.HealthV1ServiceName) {
		t.Fatalf("reflection lists %v, want %s and %s among them", names, shoalv1connect.ControlServiceName, grpchealth.HealthV1ServiceName)
	}
	t.Logf("grpc-go reflection lists %v", names)
	if err := stream.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: shoalv1connect.ControlServiceName}}); err != nil {
		t.Fatal(err)
	}
	res, err = stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Fatalf("reflection: no file descriptor for %s: %v", shoalv1connect.ControlServiceName, res)
	}
	_ = stream.CloseSend()

	// The same with Connect's reflection client.
	rc := grpcreflect.NewClient(httpclient.TLS(admin), "https://"+m1.addr, connect.WithGRPC())
	rs := rc.NewStream(ctx)
	svcs, err := rs.ListServices()
	if err != nil {
		t.Fatalf("connect reflection ListServices: %v", err)
	}
	found := false
	for _, s := range svcs {
		found = found || string(s) == shoalv1connect.ControlServiceName
	}
	if !found {
		t.Fatalf("connect reflection lists %v, want %s among them", svcs, shoalv1connect.ControlServiceName)
	}
	_, _ = rs.Close()

	// A real ControlService call from grpc-go (the generated Connect code is
	// not needed to call shoal).
	out := &shoalv1.ListNodesResponse{}
	if err := grpcConn(t, m1.addr, admin).Invoke(ctx, shoalv1connect.ControlServiceListNodesProcedure, &shoalv1.ListNodesRequest{}, out); err != nil {
		t.Fatalf("grpc-go ListNodes: %v", err)
	}
	if len(out.GetNodes()) != 1 {
		t.Fatalf("grpc-go ListNodes: %d nodes, want 1", len(out.GetNodes()))
	}
	// Reflection is for managers and admins (core/auth.DefaultPolicy):
	// without a certificate it is refused.
	t.Run("reflection requires a certificate", func(t *testing.T) {
		as, err := reflectpb.NewServerReflectionClient(grpcConn(t, m1.addr, anon)).ServerReflectionInfo(ctx)
		if err == nil {
			// Send reports io.EOF when the server already ended the
			// stream (here: refused it); the status comes from Recv.
			if err = as.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{ListServices: "*"}}); err == nil || errors.Is(err, io.EOF) {
				_, err = as.Recv()
			}
		}
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("reflection v1 without a certificate: %v, want Unauthenticated (the policy allows only managers and admins)", err)
		}
	})
}
