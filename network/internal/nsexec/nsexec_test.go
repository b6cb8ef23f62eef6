package nsexec_test

import (
	"errors"
	"io/fs"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vishvananda/netns"

	"github.com/shoal-project/shoal/network/internal/nsexec"
	"github.com/shoal-project/shoal/network/internal/testnetns"
)

func TestDoRunsInsideAndReturnsThreadsToTheOriginalNamespace(t *testing.T) {
	before, err := netns.GetFromPath("/proc/self/ns/net") // before any thread moves
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	ns := testnetns.New(t, "nsexec")

	for range 20 {
		var tid int
		err := nsexec.Do(ns.Path, func() error {
			tid = unix.Gettid()
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
		// The thread that ran f either ended or is back in the original namespace.
		after, err := netns.GetFromThread(os.Getpid(), tid)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !after.Equal(before) {
			t.Fatalf("thread %d is left in %s, want %s", tid, after, before)
		}
		after.Close()
	}
}

func TestDoNamesAMissingNamespace(t *testing.T) {
	err := nsexec.Do("/var/run/netns/shl-dnslb-missing", func() error { return nil })
	if err == nil {
		t.Fatal("Do on a missing namespace: err = nil")
	}
}
