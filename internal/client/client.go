package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/ca"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
)

// SocketName is the admin socket's file name inside a node's data dir.
const SocketName = "shoal.sock"

// ErrNoManager is returned when the data dir holds no admin socket: the node
// is not running or is not a manager.
var ErrNoManager = errors.New("no manager admin socket")

// Options says how to reach a manager.
type Options struct {
	// DataDir is a local node's data dir; its admin socket is used.
	DataDir string
	// Host is host:port of a manager, reached over TLS with TLS.
	Host string
	TLS  *tls.Config
	// LocalRead asks the manager to answer reads from its own store
	// (possibly stale) instead of the leader's.
	LocalRead bool
	// Timeout is every call's deadline (0: none); a stream that follows
	// (service logs --follow) has none.
	Timeout time.Duration
}

// localReadHeader is the manager's Shoal-Local-Read header.
const localReadHeader = "Shoal-Local-Read"

type headerTransport struct {
	next http.RoundTripper
	key  string
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h.key, "1")
	return h.next.RoundTrip(r)
}

// Client holds the API clients for one manager connection.
type Client struct {
	Control shoalv1connect.ControlServiceClient
	CA      shoalv1connect.CAServiceClient
	HTTP    *http.Client
	BaseURL string
}

// New connects lazily (the first call dials).
func New(o Options) (*Client, error) {
	var hc *http.Client
	var base, target string
	switch {
	case o.Host != "":
		if o.TLS == nil {
			return nil, errors.New("--host needs an admin certificate (--tls-dir)")
		}
		hc = TLSHTTPClient(o.TLS)
		base = "https://" + o.Host
		target = o.Host
	default:
		sock := filepath.Join(o.DataDir, SocketName)
		if _, err := os.Stat(sock); err != nil {
			if _, serr := os.Stat(filepath.Join(o.DataDir, "node.json")); serr == nil {
				return nil, fmt.Errorf("%w in %s: this node is not a manager, or its daemon is not running (run client commands on a manager, or use --host with an admin certificate)", ErrNoManager, o.DataDir)
			}
			return nil, fmt.Errorf("%w in %s: no shoal node there (set --data-dir or SHOAL_DATA_DIR to a manager's data dir)", ErrNoManager, o.DataDir)
		}
		hc = UnixHTTPClient(sock)
		base = "http://shoal"
		target = "admin socket " + sock
	}
	if o.LocalRead {
		hc = &http.Client{Transport: headerTransport{next: hc.Transport, key: localReadHeader}}
	}
	opts := []connect.ClientOption{connect.WithGRPC()}
	if o.Timeout > 0 {
		opts = append(opts, connect.WithInterceptors(callDeadline{timeout: o.Timeout, target: target}))
	}
	return &Client{
		Control: shoalv1connect.NewControlServiceClient(hc, base, opts...),
		CA:      shoalv1connect.NewCAServiceClient(hc, base, opts...),
		HTTP:    hc,
		BaseURL: base,
	}, nil
}

// UnixHTTPClient speaks unencrypted HTTP/2 over a unix socket.
func UnixHTTPClient(sock string) *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{
		Protocols: &p,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		IdleConnTimeout: 30 * time.Second,
	}
	return &http.Client{Transport: tr}
}

// TLSHTTPClient speaks HTTP/2 over TLS.
func TLSHTTPClient(cfg *tls.Config) *http.Client {
	var p http.Protocols
	p.SetHTTP2(true)
	tr := &http.Transport{
		Protocols:           &p,
		TLSClientConfig:     cfg.Clone(), // a Transport edits its config (ALPN); never share one
		IdleConnTimeout:     30 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	return &http.Client{Transport: tr}
}

// LoadAdminTLS reads cert.pem, key.pem and ca.pem from dir. The certificate
// is always presented, so a certificate from another cluster fails the
// handshake instead of being dropped silently.
func LoadAdminTLS(dir string) (*tls.Config, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "key.pem"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, err
	}
	root, err := ca.ParseRootCA(caPEM, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "ca.pem"), err)
	}
	cert, err := ca.KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return ca.ClientTLSConfig(root, &cert, ""), nil
}
