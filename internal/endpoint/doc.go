// Package endpoint holds what a client and a manager agree on outside the
// .proto files: where a manager's admin socket is in its data dir, and the
// HTTP headers that change how a manager answers. The manager (core/manager)
// and the CLI's dialer (internal/client) both import it, so each name is
// spelled once. It must not import anything of shoal.
package endpoint
