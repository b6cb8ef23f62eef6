package ca

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

// handshakeResult is what the test server saw of one connection.
type handshakeResult struct {
	peer []string // CNs of the client's certificate chain
	err  error
}

// serveOnce listens on loopback with cfg, completes one handshake, writes
// "ok\n" on success and reports what it saw.
func serveOnce(t *testing.T, cfg *tls.Config) (addr string, results <-chan handshakeResult) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan handshakeResult, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- handshakeResult{err: err}
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.Handshake(); err != nil {
			ch <- handshakeResult{err: err}
			return
		}
		var cns []string
		for _, pc := range tc.ConnectionState().PeerCertificates {
			cns = append(cns, pc.Subject.CommonName)
		}
		_, _ = tc.Write([]byte("ok\n"))
		ch <- handshakeResult{peer: cns}
	}()
	return ln.Addr().String(), ch
}

// dialAndRead dials addr with cfg and reads the server's line.
func dialAndRead(addr string, cfg *tls.Config) (string, error) {
	d := &net.Dialer{Timeout: 30 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return bufio.NewReader(c).ReadString('\n')
}

func TestTLSConfigs(t *testing.T) {
	now := time.Now()
	rootA := mustRoot(t, "cluster-a", now)
	rootB := mustRoot(t, "cluster-b", now)
	rootA2 := mustRoot(t, "cluster-a", now) // same cluster ID, different key
	_, _, managerA := mustNode(t, rootA, "m1", RoleManager, now)
	_, _, workerA := mustNode(t, rootA, "w1", RoleWorker, now)
	_, _, workerB := mustNode(t, rootB, "wb", RoleWorker, now)
	_, _, workerA2 := mustNode(t, rootA2, "wa2", RoleWorker, now)

	cases := []struct {
		name       string
		serverCert tls.Certificate
		clientRoot *RootCA
		clientCert *tls.Certificate
		serverName string
		wantOK     bool
		wantPeer   string
	}{
		{"worker to manager", managerA, rootA, &workerA, ManagerServerName, true, "w1"},
		{"no client cert", managerA, rootA, nil, ManagerServerName, true, ""},
		{"by loopback IP", managerA, rootA, nil, "127.0.0.1", true, ""},
		{"by an IP the server's certificate does not name", managerA, rootA, nil, "10.9.9.9", false, ""},
		{"client cert from another CA", managerA, rootA, &workerB, ManagerServerName, false, ""},
		{"client cert from same-named cluster's other CA", managerA, rootA, &workerA2, ManagerServerName, false, ""},
		{"client trusts another CA", managerA, rootB, &workerB, ManagerServerName, false, ""},
		{"server is a worker, client wants a manager", workerA, rootA, nil, ManagerServerName, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, results := serveOnce(t, ServerTLSConfig(rootA, tc.serverCert))
			line, err := dialAndRead(addr, ClientTLSConfig(tc.clientRoot, tc.clientCert, tc.serverName))
			res := <-results
			if !tc.wantOK {
				if err == nil || line == "ok\n" {
					t.Fatalf("client got %q, %v; want a failed handshake", line, err)
				}
				if res.err == nil {
					t.Fatalf("server completed the handshake with peer %v", res.peer)
				}
				return
			}
			if err != nil || line != "ok\n" {
				t.Fatalf("client: %q, %v", line, err)
			}
			if res.err != nil {
				t.Fatalf("server: %v", res.err)
			}
			if got := strings.Join(res.peer, ","); got != tc.wantPeer {
				t.Fatalf("server saw peer %q, want %q", got, tc.wantPeer)
			}
		})
	}
}

func TestServerTLSConfigRequiresTLS13(t *testing.T) {
	now := time.Now()
	root := mustRoot(t, "c", now)
	_, _, m := mustNode(t, root, "m", RoleManager, now)
	addr, results := serveOnce(t, ServerTLSConfig(root, m))
	cfg := ClientTLSConfig(root, nil, ManagerServerName)
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	if _, err := dialAndRead(addr, cfg); err == nil {
		t.Fatalf("TLS 1.2 client connected")
	}
	<-results
	sc := ServerTLSConfig(root, m)
	if sc.ClientAuth != tls.VerifyClientCertIfGiven || sc.MinVersion != tls.VersionTLS13 ||
		strings.Join(sc.NextProtos, ",") != "h2,http/1.1" {
		t.Errorf("server config: auth %v, min %x, protos %v", sc.ClientAuth, sc.MinVersion, sc.NextProtos)
	}
}

func TestCertHolderRotation(t *testing.T) {
	now := time.Now()
	root := mustRoot(t, "c", now)
	_, _, first := mustNode(t, root, "m-old", RoleManager, now)
	_, _, second := mustNode(t, root, "m-new", RoleManager, now)
	_, _, wOld := mustNode(t, root, "w-old", RoleWorker, now)
	_, _, wNew := mustNode(t, root, "w-new", RoleWorker, now)
	serverCerts := NewCertHolder(first)
	clientCerts := NewCertHolder(wOld)

	handshake := func() (server string, peer []string) {
		t.Helper()
		addr, results := serveOnce(t, ServerTLSConfigFromHolder(TrustRoot(root), serverCerts))
		c, err := tls.Dial("tcp", addr, ClientTLSConfigFromHolder(TrustRoot(root), clientCerts, ManagerServerName))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		res := <-results
		if res.err != nil {
			t.Fatal(res.err)
		}
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName, res.peer
	}
	if s, p := handshake(); s != "m-old" || strings.Join(p, ",") != "w-old" {
		t.Fatalf("before rotation: server %s, client %v", s, p)
	}
	serverCerts.Set(second)
	clientCerts.Set(wNew)
	if s, p := handshake(); s != "m-new" || strings.Join(p, ",") != "w-new" {
		t.Fatalf("after rotation: server %s, client %v", s, p)
	}
}
