package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"

	"github.com/shoal-project/shoal/network/internal/nsexec"
)

// Server is one task's DNS server: a UDP and a TCP listener inside its namespace.
type Server struct {
	udp, tcp *dns.Server
	done     chan error // one result per listener

	stopOnce sync.Once
	stopErr  error
}

// Start opens the listeners inside the network namespace bound at netnsPath (bringing
// its loopback up if it is down, as 127.0.0.11 lives there) and serves them.
func Start(netnsPath string, cfg Config) (*Server, error) {
	h, err := NewHandler(cfg)
	if err != nil {
		return nil, err
	}
	var (
		pc net.PacketConn
		ln net.Listener
	)
	addr := h.cfg.Listen.String()
	err = nsexec.Do(netnsPath, func() error {
		if err := loopbackUp(); err != nil {
			return err
		}
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp", addr); err != nil {
			pc.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("DNS listeners on %s in %s: %w", addr, netnsPath, err)
	}
	s := &Server{
		udp:  &dns.Server{PacketConn: pc, Handler: h},
		tcp:  &dns.Server{Listener: ln, Handler: h},
		done: make(chan error, 2),
	}
	s.serve(s.udp)
	s.serve(s.tcp)
	h.cfg.Logger.Debug("DNS server started", "netns", netnsPath, "listen", addr)
	return s, nil
}

// serve runs srv and returns once it is serving, so that Stop never races its start.
func (s *Server) serve(srv *dns.Server) {
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { s.done <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-s.done:
		s.done <- err // failed at once; Stop reports it
	}
}

// Stop closes both listeners and waits for their loops to end. Later calls return
// the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errs := []error{s.udp.ShutdownContext(ctx), s.tcp.ShutdownContext(ctx)}
	for range 2 {
		if err := <-s.done; err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// loopbackUp runs inside the namespace: a new namespace's lo is down and has no
// 127.0.0.0/8 until it is up.
func loopbackUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if lo.Attrs().Flags&net.FlagUp != 0 {
		return nil
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}
