// Package client connects the shoal CLI to a manager: through the local
// admin socket in a node's data dir (unencrypted HTTP/2 over a 0600 unix
// socket), or over mutual TLS with an admin certificate. It owns connection
// set-up only; it must not print or interpret answers. It imports nothing of
// core: the CLI loads the admin certificate (core/ca) and passes the TLS
// configuration in.
package client
