//go:build linux

package overlay

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netns"

	"github.com/shoal-project/shoal/network/internal/nsexec"
)

// namedNetnsDir is where `ip netns` and vishvananda/netns keep named namespaces.
const namedNetnsDir = "/var/run/netns"

// createNamedNetns creates an empty named namespace (a bind mount under
// /var/run/netns) and returns a handle to it.
func createNamedNetns(name string) (netns.NsHandle, error) {
	ns := netns.None()
	err := nsexec.OnThread(func() error {
		var err error
		ns, err = netns.NewNamed(name)
		return err
	})
	if err != nil {
		_ = os.Remove(filepath.Join(namedNetnsDir, name)) // a half-made mount point
		return netns.None(), fmt.Errorf("overlay: create netns %s: %w", name, err)
	}
	return ns, nil
}

// openOrCreateNamedNetns adopts an existing named namespace or creates it.
func openOrCreateNamedNetns(name string) (ns netns.NsHandle, created bool, err error) {
	ns, err = netns.GetFromName(name)
	if err == nil {
		return ns, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return netns.None(), false, fmt.Errorf("overlay: open netns %s: %w", name, err)
	}
	ns, err = createNamedNetns(name)
	return ns, err == nil, err
}

// deleteNamedNetns unmounts and removes a named namespace; a missing one is
// not an error.
func deleteNamedNetns(name string) error {
	err := netns.DeleteNamed(name)
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return nil
	}
	// Not mounted (EINVAL) but the file is there: a crash mid-create.
	if rerr := os.Remove(filepath.Join(namedNetnsDir, name)); rerr == nil || errors.Is(rerr, os.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("overlay: delete netns %s: %w", name, err)
}

// namedNetnsWithPrefix lists the named namespaces whose names start with prefix.
func namedNetnsWithPrefix(prefix string) ([]string, error) {
	entries, err := os.ReadDir(namedNetnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("overlay: list %s: %w", namedNetnsDir, err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
