package client

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
)

// slowManager never answers ListNodes; ServiceLogs sends one line after
// logDelay.
type slowManager struct {
	shoalv1connect.UnimplementedControlServiceHandler
	logDelay time.Duration
}

func (slowManager) ListNodes(ctx context.Context, _ *connect.Request[shoalv1.ListNodesRequest]) (*connect.Response[shoalv1.ListNodesResponse], error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (m slowManager) ServiceLogs(ctx context.Context, _ *connect.Request[shoalv1.ServiceLogsRequest], s *connect.ServerStream[shoalv1.ServiceLogsResponse]) error {
	select {
	case <-time.After(m.logDelay):
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Send(&shoalv1.ServiceLogsResponse{})
}

// serveAdminSocket serves h on dir/shoal.sock as a manager does.
func serveAdminSocket(t *testing.T, h shoalv1connect.ControlServiceHandler) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "shoal-client-") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, "shoal.sock"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(shoalv1connect.NewControlServiceHandler(h))
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: mux, Protocols: &p}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return dir
}

func TestCallWithoutAnswerEndsAtItsDeadlineNamingTheManager(t *testing.T) {
	dir := serveAdminSocket(t, slowManager{})
	cl, err := New(Options{DataDir: dir, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = cl.Control.ListNodes(context.Background(), connect.NewRequest(&shoalv1.ListNodesRequest{}))
	took := time.Since(start)
	if connect.CodeOf(err) != connect.CodeDeadlineExceeded || !strings.Contains(err.Error(), "admin socket "+dir) {
		t.Fatalf("err %v; want DeadlineExceeded naming the admin socket", err)
	}
	if took > 10*time.Second {
		t.Fatalf("the call took %s with a 200ms deadline", took)
	}
}

func TestFollowedStreamHasNoDeadline(t *testing.T) {
	dir := serveAdminSocket(t, slowManager{logDelay: time.Second})
	cl, err := New(Options{DataDir: dir, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		follow bool
		want   error // nil: the line arrives
	}{{follow: true}, {follow: false, want: errCallTimeout}} {
		var err error
		st, err := cl.Control.ServiceLogs(context.Background(), connect.NewRequest(&shoalv1.ServiceLogsRequest{Service: "web", Follow: tc.follow}))
		if err == nil {
			if !st.Receive() {
				err = st.Err()
			}
			st.Close()
		}
		if (err == nil) != (tc.want == nil) || (err != nil && connect.CodeOf(err) != connect.CodeDeadlineExceeded) {
			t.Fatalf("follow=%v: stream error %v, want %v", tc.follow, err, tc.want)
		}
	}
}

func TestUnreachableManagerIsNamed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cl, err := New(Options{Host: addr, TLS: newTestTLS(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.Control.ListNodes(context.Background(), connect.NewRequest(&shoalv1.ListNodesRequest{}))
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeUnavailable || !strings.Contains(ce.Message(), "cannot reach the manager at "+addr) {
		t.Fatalf("err %v; want Unavailable naming %s", err, addr)
	}
}

func newTestTLS() *tls.Config { return &tls.Config{MinVersion: tls.VersionTLS13} }
