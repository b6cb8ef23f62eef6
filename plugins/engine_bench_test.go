package plugins

import (
	"context"
	"testing"

	"github.com/shoal-project/shoal/plugins/builtin"
)

// BenchmarkCompile compiles the built-in spread module in a fresh runtime:
// cold (no cache) and from a warm on-disk compilation cache.
func BenchmarkCompile(b *testing.B) {
	ctx := context.Background()
	wasm := builtin.Module("spread")
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			e, err := newEngine(ctx, engineConfig{memPages: 4096})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.compile(ctx, wasm); err != nil {
				b.Fatal(err)
			}
			e.close(ctx)
		}
	})
	b.Run("cached", func(b *testing.B) {
		dir := b.TempDir()
		warm, err := newEngine(ctx, engineConfig{cacheDir: dir, memPages: 4096})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := warm.compile(ctx, wasm); err != nil {
			b.Fatal(err)
		}
		warm.close(ctx)
		b.ResetTimer()
		for b.Loop() {
			e, err := newEngine(ctx, engineConfig{cacheDir: dir, memPages: 4096})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.compile(ctx, wasm); err != nil {
				b.Fatal(err)
			}
			e.close(ctx)
		}
	})
}

// BenchmarkInstantiate instantiates (runs _initialize of) the built-in
// spread module.
func BenchmarkInstantiate(b *testing.B) {
	ctx := context.Background()
	e, err := newEngine(ctx, engineConfig{memPages: 4096, maxLog: 1024})
	if err != nil {
		b.Fatal(err)
	}
	defer e.close(ctx)
	c, err := e.compile(ctx, builtin.Module("spread"))
	if err != nil {
		b.Fatal(err)
	}
	m := &module{compiled: c}
	for b.Loop() {
		inst, err := e.instantiate(ctx, m)
		if err != nil {
			b.Fatal(err)
		}
		inst.mod.Close(ctx)
	}
}
