package api

import (
	"context"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// Plugins is the plugin manager on the leader: it validates modules and
// answers dry runs. Storing modules is the API's job.
type Plugins interface {
	// Validate checks a module for kind and returns its ABI version and capabilities.
	Validate(ctx context.Context, wasm []byte, kind shoalv1.PluginKind) (abi, caps uint32, err error)
	// Stats returns this manager's counters for a plugin.
	Stats(name string) *shoalv1.PluginStats
	// DryRun places the tasks of spec (or the pending tasks) with the module.
	DryRun(ctx context.Context, wasm []byte, spec *shoalv1.ServiceSpec) (*shoalv1.TestPluginResponse, error)
}
