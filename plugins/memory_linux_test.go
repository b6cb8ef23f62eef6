package plugins

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero/experimental"

	"github.com/shoal-project/shoal/plugins/builtin"
	"github.com/shoal-project/shoal/plugins/policytest"
	"github.com/shoal-project/shoal/sdk"
)

// A guest that grows its memory during a call keeps it where it was: the
// sandbox's engine reserves each memory at its maximum size, so growing
// copies nothing.
func TestGuestMemoryGrowsInPlace(t *testing.T) {
	ctx := context.Background()
	e, err := newEngine(ctx, engineConfig{memPages: 4096, maxOutput: 64 << 20, maxLog: 1024, poolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.close(ctx)
	wasm := builtin.Module("spread")
	sha := Digest(wasm)
	if err := e.load(ctx, sha, wasm); err != nil {
		t.Fatal(err)
	}
	mem := e.modules[sha].idle[0].mod.Memory()
	base := func() *byte {
		v, ok := mem.Read(0, 1)
		if !ok {
			t.Fatal("guest memory is empty")
		}
		return &v[0]
	}
	size, at := mem.Size(), base()
	req := policytest.Uniform(2400, 100_000)
	wire := sdk.AppendScheduleCall(nil, req.Nodes, req.Groups, &sdk.ScheduleDelta{Generation: 1})
	if _, _, err := e.call(ctx, sha, opSchedule, wire); err != nil {
		t.Fatal(err)
	}
	if mem.Size() <= size {
		t.Fatalf("guest memory did not grow (%d bytes): the test needs a bigger call", size)
	}
	if base() != at {
		t.Errorf("guest memory moved when it grew from %d to %d bytes: it was copied", size, mem.Size())
	}
}

func TestLinearMemories(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mem     func() experimental.LinearMemory
		bounded bool
	}{
		{"reserved", func() experimental.LinearMemory { return newReservedMemory(1<<16, 1<<20) }, true},
		{"heap", func() experimental.LinearMemory { return &heapMemory{} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.mem()
			b := m.Reallocate(1 << 16)
			if len(b) != 1<<16 {
				t.Fatalf("len %d", len(b))
			}
			b[100] = 7
			b = m.Reallocate(1 << 20)
			if len(b) != 1<<20 || b[100] != 7 || b[1<<20-1] != 0 {
				t.Fatalf("grown: len %d, kept %d, new byte %d", len(b), b[100], b[1<<20-1])
			}
			if got := m.Reallocate(1<<20 + 1); tc.bounded && got != nil {
				t.Errorf("grew past its reservation: len %d", len(got))
			}
			m.Free()
			m.Free() // twice is harmless
		})
	}
}
