// Package nsexec runs a function on an OS thread switched into another network
// namespace. Sockets opened there stay in that namespace for their whole life, so a
// caller opens its sockets inside and serves them from any goroutine afterwards.
//
// It owns nothing but the thread it borrows: the thread goes back to the original
// namespace before it is released, and a thread that cannot go back is never released
// (the runtime ends it with its goroutine), so no other goroutine runs in a namespace
// it did not ask for.
package nsexec

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs f inside the network namespace bound at path (e.g. /var/run/netns/NAME or
// /proc/PID/ns/net) and returns f's error.
func Do(path string, f func() error) error {
	target, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer target.Close()
	return DoHandle(target, f)
}

// DoHandle is Do for a namespace the caller already holds open.
func DoHandle(target netns.NsHandle, f func() error) error {
	return OnThread(func() error {
		if err := netns.Set(target); err != nil {
			return fmt.Errorf("enter network namespace: %w", err)
		}
		return f()
	})
}

// OnThread runs f on a locked OS thread of its own and puts that thread back into
// its original network namespace afterwards, whatever f did to it (e.g.
// netns.NewNamed, which leaves the calling thread in the namespace it creates).
func OnThread(f func() error) error {
	done := make(chan error, 1)
	go func() { done <- onThread(f) }()
	return <-done
}

// onThread runs on its own goroutine: when the thread cannot be switched back, the
// goroutine exits still locked and the runtime terminates the thread.
func onThread(f func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("read current network namespace: %w", err)
	}
	defer orig.Close()
	ferr := f()
	if err := netns.Set(orig); err != nil {
		return fmt.Errorf("return to the original network namespace: %w (after: %v)", err, ferr)
	}
	runtime.UnlockOSThread()
	return ferr
}
