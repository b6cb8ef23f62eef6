// Package nsthread runs a function on an OS thread switched into a network
// namespace, for tests that open sockets inside a task's or a test host's
// namespace (a socket keeps the namespace it was opened in). Library code
// uses network/internal/nsexec.
package nsthread

import (
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs f on a thread inside the namespace at path and returns its error.
// A thread that cannot be switched back stays locked, so the Go runtime
// ends it instead of reusing it.
func Do(path string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer self.Close()
		target, err := netns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- err
			return
		}
		ferr := f()
		if netns.Set(self) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}
