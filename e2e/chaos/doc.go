// Package chaos is shoal's chaos suite: 3 managers and 2 workers run as
// real shoal processes, each in its own network namespace (internal/testhost),
// while nemeses chosen at random from a printed seed kill and restart
// processes, pause them, cut and split the network, drop and delay packets,
// fill a manager's disk and demote a manager right after its restart, and
// clients write and read through random managers. The histories of a register (a service label updated with
// compare-and-set on the service version) and of a set (service creates)
// are checked for linearizability with porcupine; after the faults heal the
// cluster must converge (every service at its replica count, no slot with
// two running tasks, every manager's store equal).
//
// The package's code outside tests is the checker (history.go): the
// recorded operations, the porcupine models and the visualisation written
// on a failure. go test runs 3 rounds and the planted-bug test (a shoal
// built with -tags chaosbug serves stale reads and must be caught);
// scripts/chaos.sh runs the long version (RELIABILITY.md).
package chaos
