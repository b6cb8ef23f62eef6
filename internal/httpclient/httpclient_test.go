package httpclient

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
)

func protoHandler(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(r.Proto)) }

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	return res.Proto
}

func TestUnixSpeaksHTTP2OverTheSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(protoHandler), Protocols: new(http.Protocols)}
	srv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	if got := get(t, Unix(sock), "http://any-host/"); got != "HTTP/2.0" {
		t.Fatalf("proto %s, want HTTP/2.0", got)
	}
}

func TestTLSSpeaksHTTP2AndLeavesTheConfigAlone(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(protoHandler))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if got := get(t, TLS(cfg), srv.URL); got != "HTTP/2.0" {
		t.Fatalf("proto %s, want HTTP/2.0", got)
	}
	if len(cfg.NextProtos) != 0 {
		t.Fatalf("the caller's config was edited: NextProtos %v", cfg.NextProtos)
	}
}
