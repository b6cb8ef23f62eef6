package main

import (
	"github.com/shoal-project/shoal/plugins"
	"github.com/shoal-project/shoal/runtime/containerd"
	"github.com/shoal-project/shoal/runtime/process"
)

// reexecHooks runs the helper processes the shoal binary re-executes itself
// as (process shims, containerd task loggers, the plugin sandbox). Each
// returns when the environment (and arguments) do not ask for it.
func reexecHooks() {
	process.MaybeRunShim()
	containerd.MaybeRunLogger()
	plugins.MaybeRunSandbox()
}
