package taskspec

import (
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/runtime"
)

// Kind is the kind of runtime spec needs: runtime.KindContainer for an
// image, runtime.KindProcess for a command, "" when it names neither.
func Kind(spec *shoalv1.TaskSpec) runtime.Kind {
	switch spec.GetRuntime().(type) {
	case *shoalv1.TaskSpec_Container:
		return runtime.KindContainer
	case *shoalv1.TaskSpec_Process:
		return runtime.KindProcess
	}
	return ""
}
