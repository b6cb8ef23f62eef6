package plugins

import (
	"context"
	"sync"
)

// backend runs modules somewhere: in a sandbox process or in this process.
// Implementations serialise calls themselves.
type backend interface {
	validate(ctx context.Context, wasm []byte, kind Kind) (Info, error)
	load(ctx context.Context, sha string, wasm []byte) error
	call(ctx context.Context, sha string, o op, req []byte) (answer []byte, logs string, err error)
	unload(ctx context.Context, sha string)
	close() error
}

// inProcess runs the engine in this process with WithCloseOnContextDone, so
// a context deadline stops a looping guest (at a large cost in speed).
type inProcess struct {
	mu sync.Mutex
	e  *engine
}

func newInProcess(cfg engineConfig) (*inProcess, error) {
	cfg.closeOnDone = true
	e, err := newEngine(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	return &inProcess{e: e}, nil
}

func (b *inProcess) validate(ctx context.Context, wasm []byte, kind Kind) (Info, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.e.validate(ctx, wasm, kind)
}

func (b *inProcess) load(ctx context.Context, sha string, wasm []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.e.load(ctx, sha, wasm)
}

func (b *inProcess) call(ctx context.Context, sha string, o op, req []byte) ([]byte, string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.e.call(ctx, sha, o, req)
}

func (b *inProcess) unload(ctx context.Context, sha string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.e.unload(ctx, sha)
}

func (b *inProcess) close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.e.close(context.Background())
	return nil
}
