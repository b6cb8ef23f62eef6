package manager

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/raft"
)

// scriptedBarrier answers each ReadBarrier call with the next step: block
// until the round ends, or return an error (nil: granted).
type scriptedBarrier struct {
	steps []error // errBlock blocks
	calls int
}

var errBlock = errors.New("block")

func (b *scriptedBarrier) ReadBarrier(ctx context.Context) error {
	step := errBlock
	if b.calls < len(b.steps) {
		step = b.steps[b.calls]
	}
	b.calls++
	if step == errBlock {
		<-ctx.Done()
		return ctx.Err()
	}
	return step
}

func TestReadBarrierAsksAgainWhenARoundGoesUnanswered(t *testing.T) {
	for _, tc := range []struct {
		name      string
		steps     []error
		wantErr   error
		wantCalls int
	}{
		{name: "granted at once", steps: []error{nil}, wantCalls: 1},
		{name: "unanswered rounds, then granted", steps: []error{errBlock, errBlock, nil}, wantCalls: 3},
		{name: "no longer the leader ends it", steps: []error{errBlock, raft.ErrNotLeader}, wantErr: raft.ErrNotLeader, wantCalls: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &scriptedBarrier{steps: tc.steps}
			err := readBarrier(context.Background(), b, 10*time.Millisecond)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) || b.calls != tc.wantCalls {
				t.Fatalf("err %v after %d rounds; want %v after %d", err, b.calls, tc.wantErr, tc.wantCalls)
			}
		})
	}
}

func TestReadBarrierEndsWithItsCaller(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := readBarrier(ctx, &scriptedBarrier{}, 30*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v; want the caller's deadline", err)
	}
}
