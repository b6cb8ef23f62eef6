package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/internal/endpoint"
	"github.com/shoal-project/shoal/internal/httpclient"
)

// ErrNoManager is returned when the data dir holds no admin socket: there is
// no node, or it is not running, or it is not a manager.
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
		hc = httpclient.TLS(o.TLS)
		base = "https://" + o.Host
		target = o.Host
	default:
		sock := filepath.Join(o.DataDir, endpoint.SocketName)
		if _, err := os.Stat(sock); err != nil {
			return nil, fmt.Errorf("%w in %s", ErrNoManager, o.DataDir)
		}
		hc = httpclient.Unix(sock)
		base = "http://shoal"
		target = "admin socket " + sock
	}
	if o.LocalRead {
		hc = &http.Client{Transport: headerTransport{next: hc.Transport, key: endpoint.HeaderLocalRead}}
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
