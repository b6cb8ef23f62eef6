package manager

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/clock/clocktest"
)

func TestLeaderWatchSignalsEveryChangeOfLeader(t *testing.T) {
	views := []leaderView{
		{id: 1, addr: "a:1"},
		{id: 1, addr: "a:1"}, // no change: no signal
		{},                   // the leader is lost
		{id: 2, addr: "b:1"},
	}
	var step atomic.Int32
	read := func() leaderView { return views[min(int(step.Load()), len(views)-1)] }
	clk := clocktest.NewManual()
	w := newLeaderWatch()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.run(ctx, clk, time.Second, read) }()
	defer func() { cancel(); <-done }()

	waitView := func(want leaderView) <-chan struct{} {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			v, ch := w.current()
			if v == want {
				return ch
			}
			if time.Now().After(deadline) {
				t.Fatalf("view %+v; want %+v", v, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	poll := func(next int) {
		t.Helper()
		for clk.Pending() == 0 {
			time.Sleep(time.Millisecond) // until the watch waits for its next poll
		}
		step.Store(int32(next))
		clk.Advance(time.Second)
	}
	ch := waitView(views[0])
	poll(1)
	for clk.Pending() == 0 {
		time.Sleep(time.Millisecond)
	}
	select {
	case <-ch:
		t.Fatal("an unchanged leader closed the channel")
	default:
	}
	poll(2)
	<-ch
	ch = waitView(views[2])
	poll(3)
	<-ch
	if v, _ := w.current(); !v.known() || v.addr != "b:1" {
		t.Fatalf("view %+v; want the new leader b:1", v)
	}
}
