package node

import (
	"github.com/shoal-project/shoal/plugins"
	"github.com/shoal-project/shoal/runtime/containerd"
	"github.com/shoal-project/shoal/runtime/process"
)

// ReexecHooks runs this process as one of the helpers a node's binary
// starts itself as (the process backend's shims, containerd task loggers,
// the plugin sandbox) when its environment and arguments ask for one, and
// returns otherwise. A binary or test that runs nodes calls it first thing.
func ReexecHooks() {
	process.MaybeRunShim()
	containerd.MaybeRunLogger()
	plugins.MaybeRunSandbox()
}
