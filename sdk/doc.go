// Package sdk is what a shoal plugin author imports.
//
// It owns the plugin ABI, version 1: the typed requests and responses a
// scheduling or allocation policy receives and returns (ScheduleRequest,
// ScheduleResponse, AllocateRequest, AllocateResponse), their compact
// protobuf-wire encoding (specified in proto/shoal/plugin/v1/abi.proto and
// documented in ABI.md), and, when built for GOOS=wasip1, the guest-side
// exports that connect a registered Go function to the host
// (RegisterScheduler, RegisterAllocator, RegisterRebalancer;
// RegisterKeptScheduler for a policy that keeps state derived from the node
// table between calls and is told which rows changed, TableChanges). The
// rebalancer
// kind (RebalanceRequest, RebalanceResponse, export shoal_rebalance) is an
// addition to version 1 that older modules simply lack.
//
// The same encoders and decoders are used by the manager's plugin host and by
// the guests, so both sides always agree on the wire format.
//
// The package imports only the standard library and
// google.golang.org/protobuf/encoding/protowire. It must never import
// anything of the manager (core/, plugins/, gen/): plugin authors must not pull
// the manager into their modules.
package sdk
