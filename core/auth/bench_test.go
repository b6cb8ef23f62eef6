package auth

import (
	"testing"

	"github.com/shoal-project/shoal/core/ca"
)

func BenchmarkAuthorizeDefaultPolicy(b *testing.B) {
	p := DefaultPolicy()
	id := Identity{NodeID: "w1", ClusterID: "cl", Role: ca.RoleWorker}
	for b.Loop() {
		if err := p.Authorize("/shoal.v1.DispatcherService/Session", id, true); err != nil {
			b.Fatal(err)
		}
	}
}
