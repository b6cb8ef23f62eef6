// Command scale is the swarm2k-scale benchmark: it starts a cluster of
// managers (core/node, real Raft over mutual TLS on loopback) and thousands
// of simulated worker nodes in one process, creates one replicated service
// and measures how long it takes until every task is RUNNING.
//
// Each simulated node is a real core/agent with the runtime/sim backend,
// holding its own worker certificate obtained through the real join path
// (CAService.IssueNodeCertificate with the worker token and a CSR), and
// keeping its own dispatcher session over its own TLS connection.
//
// It owns only the benchmark harness: it must not reach into the managers'
// internals beyond reading the leader's store to count task states and
// proposals. Everything else goes through the public APIs.
//
//	go run ./bench/scale -nodes 2400 -tasks 100000
package main
