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
	"slices"
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

// addHealthAndReflection registers grpc.health.v1 and gRPC reflection, which
// lists the health service too (probes discover it).
func addHealthAndReflection(mux *http.ServeMux, checker grpchealth.Checker, opts connect.HandlerOption) {
	mux.Handle(grpchealth.NewHandler(checker, opts))
	reflector := grpcreflect.NewStaticReflector(append(slices.Clone(serviceNames), grpchealth.HealthV1ServiceName)...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector, opts))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, opts))
}

// startServers listens on addr (mutual TLS) and on the admin socket path.
// With raft set, connections that negotiate transport.ProtoRaft are served
// by raft.ServeConn (admitted by authorize) instead of HTTP.
func startServers(addr, socket string, tlsConf *tls.Config, handler http.Handler, raft *transport.Handler, authorize transport.ConnAuthorizer, log *slog.Logger) (*servers, error) {
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
	if raft != nil {
		s.tlsSrv.TLSConfig = transport.ServerTLS(tlsConf)
		s.tlsSrv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){
			transport.ProtoRaft: raft.ServeTLSNextProto(authorize),
		}
		s.tlsSrv.RegisterOnShutdown(raft.CloseConns)
	}
	go func() {
		if err := s.tlsSrv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("TLS server stopped", "err", err)
		}
	}()
	if socket != "" {
		srv, aln, err := ServeLocalSocket(socket, handler, log)
		if err != nil {
			s.close(context.Background())
			return nil, err
		}
		s.adminSrv, s.adminLn = srv, aln
	}
	return s, nil
}

// ServeLocalSocket serves handler on a unix socket only root may open
// (0600), its callers marked as the local admin (core/auth): the admin
// socket of a manager, the metrics socket of every node.
func ServeLocalSocket(socket string, handler http.Handler, log *slog.Logger) (*http.Server, net.Listener, error) {
	_ = os.Remove(socket)
	old := syscallUmask(0o177)
	ln, err := net.Listen("unix", socket)
	syscallUmask(old)
	if err != nil {
		return nil, nil, fmt.Errorf("socket %s: %w", socket, err)
	}
	if err := os.Chmod(socket, 0o600); err != nil {
		ln.Close()
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
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("socket server stopped", "socket", socket, "err", err)
		}
	}()
	return srv, ln, nil
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
