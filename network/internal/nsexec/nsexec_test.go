package nsexec_test

import (
	"runtime"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/shoal-project/shoal/network/internal/nsexec"
	"github.com/shoal-project/shoal/network/internal/testnetns"
)

func TestDoRunsInsideAndReturnsThreadsToTheOriginalNamespace(t *testing.T) {
	ns := testnetns.New(t, "nsexec")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()

	for range 20 { // more calls than the runtime keeps idle threads
		err := nsexec.Do(ns.Path, func() error {
			inside, err := netns.Get()
			if err != nil {
				return err
			}
			defer inside.Close()
			if !inside.Equal(ns.Handle) {
				t.Errorf("f ran in %s, want %s", inside, ns.Handle)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 20 { // threads back in the pool are in the original namespace
		if ns := threadNamespace(t); !ns.Equal(before) {
			t.Fatalf("a pooled thread is in %s, want %s", ns, before)
		}
	}
}

// threadNamespace returns the namespace of a thread the runtime hands a new goroutine.
func threadNamespace(t *testing.T) netns.NsHandle {
	t.Helper()
	got := make(chan netns.NsHandle, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		h, err := netns.Get()
		if err != nil {
			t.Error(err)
		}
		got <- h
	}()
	h := <-got
	t.Cleanup(func() { h.Close() })
	return h
}

func TestDoNamesAMissingNamespace(t *testing.T) {
	err := nsexec.Do("/var/run/netns/shl-dnslb-missing", func() error { return nil })
	if err == nil {
		t.Fatal("Do on a missing namespace: err = nil")
	}
}
