// Command scale is the swarm2k-scale benchmark: it starts a cluster of
// managers (core/node, real Raft over mutual TLS on loopback, bbolt), each
// in a process of its own, and thousands of simulated worker nodes in this
// process, niced as if they ran on other machines; it creates one
// replicated service (or equal ones of at most 100,000 tasks, the API's
// limit, for more tasks) and measures how long it takes until every task is
// RUNNING, and what each manager process cost (RSS peak and end, CPU
// seconds, Go heap) and how many elections happened.
//
// The managers are this binary re-executed with SHOAL_SCALE_MANAGER set to
// their arguments (manager.go); each serves a loopback status endpoint
// (Raft term and leadership, proposals, heap, and on the leader the task
// counts of the service) and net/http/pprof, which the benchmark polls.
// Elections are counted as rises of the highest Raft term any manager
// reports.
//
// Each simulated node is a real core/agent with the runtime/sim backend,
// holding its own worker certificate obtained through the real join path
// (CAService.IssueNodeCertificate with the worker token and a CSR), and
// keeping its own dispatcher session over its own TLS connection.
//
// It owns only the benchmark harness: it must not reach into the managers'
// internals beyond reading the leader's store (in the manager process) to
// count task states and proposals. Everything else goes through the public
// APIs.
//
//	go run ./bench/scale -nodes 2400 -tasks 100000
//	go run ./bench/scale -sweep -png bench/scale/scale.png   # 600x25k .. 5000x200k
package main
