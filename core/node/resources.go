package node

import (
	"runtime"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/memlimit"
)

// hostResources is what this machine offers to tasks: its CPUs and memory.
func hostResources() *shoalv1.Resources {
	return &shoalv1.Resources{NanoCpus: int64(runtime.NumCPU()) * 1e9, MemoryBytes: memlimit.MemTotal()}
}
