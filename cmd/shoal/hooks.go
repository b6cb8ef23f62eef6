package main

import "github.com/shoal-project/shoal/core/node"

// reexecHooks runs the helper processes the shoal binary re-executes itself
// as (node.ReexecHooks); each returns when not asked for.
func reexecHooks() { node.ReexecHooks() }
