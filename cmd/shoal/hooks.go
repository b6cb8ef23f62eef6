package main

import (
	"github.com/shoal-project/shoal/plugins"
	"github.com/shoal-project/shoal/runtime/process"
)

// reexecHooks runs the helper processes the shoal binary re-executes itself
// as (process shims, the plugin sandbox). Each returns when the environment
// does not ask for it.
func reexecHooks() {
	process.MaybeRunShim()
	plugins.MaybeRunSandbox()
}
