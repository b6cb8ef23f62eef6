// Package e2e holds shoal's end-to-end tests: they build cmd/shoal once
// (TestMain), start real daemons on loopback ports (or, for network
// faults, inside test hosts from internal/testhost) with data dirs under
// t.TempDir(), and drive them through the CLI, the Go API client and stock
// gRPC clients, killing and restarting processes as a user or a crash would.
//
// Set SHOAL_E2E_BIN to a prebuilt shoal binary to skip the build.
//
// The package owns only tests; it must not be imported, and it touches
// nothing outside the processes and temp dirs it creates.
package e2e
