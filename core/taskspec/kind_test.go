package taskspec

import (
	"testing"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/runtime"
)

func TestKindNamesTheRuntimeASpecNeeds(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec *shoalv1.TaskSpec
		want runtime.Kind
	}{
		{"container", &shoalv1.TaskSpec{Runtime: &shoalv1.TaskSpec_Container{Container: &shoalv1.ContainerSpec{Image: "busybox"}}}, runtime.KindContainer},
		{"process", &shoalv1.TaskSpec{Runtime: &shoalv1.TaskSpec_Process{Process: &shoalv1.ProcessSpec{Command: []string{"sleep"}}}}, runtime.KindProcess},
		{"no runtime", &shoalv1.TaskSpec{}, ""},
		{"nil spec", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Kind(tc.spec); got != tc.want {
				t.Fatalf("Kind = %q, want %q", got, tc.want)
			}
		})
	}
}
