package ca

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// caServer is a loopback HTTPS server standing in for a manager's CA
// endpoint: GET /root returns rootPEM; POST /join records that a secret
// arrived.
type caServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	secrets []string
}

func newCAServer(t *testing.T, root *RootCA, serverCert tls.Certificate, servedRoot []byte) *caServer {
	t.Helper()
	cs := &caServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /root", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(servedRoot) })
	mux.HandleFunc("POST /join", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		cs.mu.Lock()
		cs.secrets = append(cs.secrets, string(b))
		cs.mu.Unlock()
		fmt.Fprintf(w, "proto=%s", r.Proto)
	})
	cs.srv = httptest.NewUnstartedServer(mux)
	cs.srv.EnableHTTP2 = true
	cs.srv.TLS = ServerTLSConfig(root, serverCert)
	cs.srv.StartTLS()
	t.Cleanup(cs.srv.Close)
	return cs
}

func (cs *caServer) seen() []string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return append([]string(nil), cs.secrets...)
}

func httpClient(cfg *tls.Config) *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true},
	}
}

// recordingFetcher fetches GET /root from url and records each config it
// was given.
type recordingFetcher struct {
	url     string
	mu      sync.Mutex
	configs []*tls.Config
}

func (f *recordingFetcher) fetch(ctx context.Context, cfg *tls.Config) ([]byte, error) {
	f.mu.Lock()
	f.configs = append(f.configs, cfg)
	f.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url+"/root", nil)
	if err != nil {
		return nil, err
	}
	c := httpClient(cfg)
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func TestFetchRootVerifiedThenJoin(t *testing.T) {
	now := time.Now()
	root := mustRoot(t, "cl", now)
	_, _, manager := mustNode(t, root, "m1", RoleManager, now)
	srv := newCAServer(t, root, manager, root.CertPEM)
	tok, _ := NewJoinToken(root, bytesReader(3))
	f := &recordingFetcher{url: srv.srv.URL}

	got, err := FetchRootVerified(context.Background(), tok.String(), f.fetch)
	if err != nil {
		t.Fatalf("FetchRootVerified: %v", err)
	}
	if got.Digest() != root.Digest() || got.CanSign() {
		t.Fatalf("got root %s (canSign %v), want cert-only %s", got.Digest(), got.CanSign(), root.Digest())
	}
	if len(f.configs) != 1 || !f.configs[0].InsecureSkipVerify || len(f.configs[0].Certificates) != 0 {
		t.Fatalf("fetch got %d configs; want exactly one unverified bootstrap config without client certificates", len(f.configs))
	}

	// The secret-bearing call uses a config verified against the root.
	c := httpClient(ClientTLSConfig(got, nil, ManagerServerName))
	resp, err := c.Post(srv.srv.URL+"/join", "text/plain", stringsReader(tok.Secret))
	if err != nil {
		t.Fatalf("join call: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "proto=HTTP/2.0" {
		t.Errorf("join answered %q, want an HTTP/2 response", body)
	}
	if s := srv.seen(); len(s) != 1 || s[0] != tok.Secret {
		t.Errorf("server got secrets %q", s)
	}
}

func TestFetchRootVerifiedRejects(t *testing.T) {
	now := time.Now()
	root := mustRoot(t, "cl", now)
	evil := mustRoot(t, "cl", now)
	_, _, manager := mustNode(t, root, "m1", RoleManager, now)
	_, _, evilManager := mustNode(t, evil, "m1", RoleManager, now)
	tok, _ := NewJoinToken(root, bytesReader(4))

	cases := []struct {
		name       string
		server     *caServer
		wantErr    error
		wantNoJoin bool
	}{
		// An impostor serving its own root: the digest differs.
		{"impostor root", newCAServer(t, evil, evilManager, evil.CertPEM), ErrDigestMismatch, true},
		// An impostor replaying the real root it cannot hold a cert for.
		{"replayed root", newCAServer(t, evil, evilManager, root.CertPEM), ErrUntrustedServer, true},
		{"garbage root", newCAServer(t, root, manager, []byte("<html>")), ErrInvalidRoot, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &recordingFetcher{url: tc.server.srv.URL}
			_, err := FetchRootVerified(context.Background(), tok.String(), f.fetch)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if len(f.configs) != 1 || !f.configs[0].InsecureSkipVerify {
				t.Fatalf("fetch called %d times; want only the one bootstrap call", len(f.configs))
			}
			if len(tc.server.seen()) != 0 {
				t.Fatalf("a secret reached the server")
			}
		})
	}
}

func TestFetchRootVerifiedDigestCheckedBeforeAnythingElse(t *testing.T) {
	root := mustRoot(t, "cl", testNow)
	other := mustRoot(t, "cl", testNow)
	tok, _ := NewJoinToken(root, bytesReader(5))
	var calls []*tls.Config
	fetch := func(_ context.Context, cfg *tls.Config) ([]byte, error) {
		calls = append(calls, cfg)
		return other.CertPEM, nil
	}
	_, err := FetchRootVerified(context.Background(), tok.String(), fetch)
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("err = %v, want ErrDigestMismatch", err)
	}
	if len(calls) != 1 || !calls[0].InsecureSkipVerify {
		t.Fatalf("fetch calls = %d; want the single bootstrap call", len(calls))
	}

	// A fetch that never connects cannot vouch for the server.
	fetchNoConn := func(context.Context, *tls.Config) ([]byte, error) { return root.CertPEM, nil }
	if _, err := FetchRootVerified(context.Background(), tok.String(), fetchNoConn); !errors.Is(err, ErrUntrustedServer) {
		t.Fatalf("no connection: err = %v, want ErrUntrustedServer", err)
	}
	// A bad token stops before any fetch.
	called := false
	_, err = FetchRootVerified(context.Background(), "SHOAL-1-nope", func(context.Context, *tls.Config) ([]byte, error) {
		called = true
		return nil, nil
	})
	if !errors.Is(err, ErrInvalidToken) || called {
		t.Fatalf("bad token: err = %v, fetch called %v", err, called)
	}
	// Fetch errors are passed through.
	boom := errors.New("boom")
	if _, err := FetchRootVerified(context.Background(), tok.String(), func(context.Context, *tls.Config) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("fetch error: %v", err)
	}
}
