package auth

import (
	"context"
	"net"
)

type localAdminKey struct{}

// WithLocalAdmin marks ctx as belonging to a connection from the local
// admin unix socket. The middleware treats a non-TLS request on such a
// connection as the admin. Only the code that owns the socket (created
// with restrictive permissions) should call it.
func WithLocalAdmin(ctx context.Context) context.Context {
	return context.WithValue(ctx, localAdminKey{}, true)
}

// isLocalAdmin reports whether ctx was marked by WithLocalAdmin.
func isLocalAdmin(ctx context.Context) bool {
	v, _ := ctx.Value(localAdminKey{}).(bool)
	return v
}

// LocalAdminConnContext is an http.Server.ConnContext hook: it marks
// connections accepted on a unix socket as the local admin and leaves every
// other connection alone. Use it on the server that serves the admin
// socket.
func LocalAdminConnContext(ctx context.Context, c net.Conn) context.Context {
	if c != nil && c.LocalAddr() != nil && c.LocalAddr().Network() == "unix" {
		return WithLocalAdmin(ctx)
	}
	return ctx
}
