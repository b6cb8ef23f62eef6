package node

import (
	"context"
	"crypto/tls"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/ca"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/internal/httpclient"
)

// caServiceClient is the CAService of the manager at addr, dialed with conf.
func caServiceClient(conf *tls.Config, addr string) shoalv1connect.CAServiceClient {
	return shoalv1connect.NewCAServiceClient(httpclient.TLS(conf), "https://"+addr, connect.WithGRPC())
}

// FetchRoot fetches the cluster's root CA from the manager at addr and
// checks it against the digest in the join token (ca.FetchRootVerified).
func FetchRoot(ctx context.Context, token, addr string) (*ca.RootCA, error) {
	return ca.FetchRootVerified(ctx, token, func(ctx context.Context, conf *tls.Config) ([]byte, error) {
		res, err := caServiceClient(conf, addr).GetRootCACertificate(ctx, connect.NewRequest(&shoalv1.GetRootCACertificateRequest{}))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetCertificate(), nil
	})
}
