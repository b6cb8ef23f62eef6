package httpclient

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// idleTimeout closes pooled connections nobody used for this long.
const idleTimeout = 30 * time.Second

// TLS speaks HTTP/2 over TLS with cfg. The config is cloned: a Transport
// edits its config (ALPN), so it must never be shared.
func TLS(cfg *tls.Config) *http.Client {
	var p http.Protocols
	p.SetHTTP2(true)
	tr := &http.Transport{
		Protocols:           &p,
		TLSClientConfig:     cfg.Clone(),
		IdleConnTimeout:     idleTimeout,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	return &http.Client{Transport: tr}
}

// Unix speaks unencrypted HTTP/2 over the unix socket at sock, whatever host
// a request names.
func Unix(sock string) *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{
		Protocols: &p,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		IdleConnTimeout: idleTimeout,
	}
	return &http.Client{Transport: tr}
}
