package manager

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	"github.com/shoal-project/shoal/core/auth"
	"github.com/shoal-project/shoal/core/raft/transport"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
)

// servers holds the node's TLS listener and its admin unix socket. Both
// serve the same mux; the socket's callers are the local admin.
type servers struct {
	tlsSrv   *http.Server
	adminSrv *http.Server
	tlsLn    net.Listener
	adminLn  net.Listener
	log      *slog.Logger
}

// serviceNames are reflected and health-checked.
var serviceNames = []string{
	shoalv1connect.ControlServiceName,
	shoalv1connect.RaftServiceName,
	shoalv1connect.CAServiceName,
	shoalv1connect.DispatcherServiceName,
}

// addHealthAndReflection registers grpc.health.v1 and gRPC reflection.
func addHealthAndReflection(mux *http.ServeMux, checker grpchealth.Checker, opts connect.HandlerOption) {
	mux.Handle(grpchealth.NewHandler(checker, opts))
	reflector := grpcreflect.NewStaticReflector(serviceNames...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector, opts))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, opts))
}

// startServers listens on addr (mutual TLS) and on the admin socket path.
func startServers(addr, socket string, tlsConf *tls.Config, handler http.Handler, log *slog.Logger) (*servers, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	s := &servers{log: log, tlsLn: ln}
	s.tlsSrv = &http.Server{
		Handler:           auth.Middleware(handler),
		TLSConfig:         tlsConf,
		Protocols:         &protos,
		HTTP2:             transport.ServerHTTP2(), // ends streams of peers a partition cut off
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := s.tlsSrv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("TLS server stopped", "err", err)
		}
	}()
	if socket != "" {
		if s.adminSrv, s.adminLn, err = serveAdmin(socket, handler, log); err != nil {
			s.close(context.Background())
			return nil, err
		}
	}
	return s, nil
}

// serveAdmin serves handler to the local admin on the unix socket at path
// (mode 0600).
func serveAdmin(socket string, handler http.Handler, log *slog.Logger) (*http.Server, net.Listener, error) {
	_ = os.Remove(socket)
	old := syscallUmask(0o177)
	aln, err := net.Listen("unix", socket)
	syscallUmask(old)
	if err != nil {
		return nil, nil, fmt.Errorf("admin socket %s: %w", socket, err)
	}
	if err := os.Chmod(socket, 0o600); err != nil {
		aln.Close()
		return nil, nil, err
	}
	var up http.Protocols
	up.SetHTTP1(true)
	up.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           auth.Middleware(handler),
		Protocols:         &up,
		ConnContext:       auth.LocalAdminConnContext,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := srv.Serve(aln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin socket server stopped", "err", err)
		}
	}()
	return srv, aln, nil
}

func (s *servers) addr() string { return s.tlsLn.Addr().String() }

func (s *servers) close(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if s.adminSrv != nil {
		_ = s.adminSrv.Shutdown(ctx)
	}
	if s.tlsSrv != nil {
		if err := s.tlsSrv.Shutdown(ctx); err != nil {
			_ = s.tlsSrv.Close()
		}
	}
}
