//go:build linux

package overlay

import (
	"errors"
	"fmt"
	"slices"

	"github.com/vishvananda/netns"
)

// Networks lists the IDs of the networks this node has a sandbox for (the
// full ID is the bridge's alias), so a restarted agent can remove those it no
// longer needs.
func (m *Manager) Networks() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	names, err := namedNetnsWithPrefix(m.cfg.SandboxPrefix)
	if err != nil {
		return nil, err
	}
	var ids []string
	var errs []error
	for _, name := range names {
		id, err := bridgeAlias(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if id != "" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, errors.Join(errs...)
}

func bridgeAlias(nsName string) (string, error) {
	sb, err := openSandboxByName(nsName)
	if err != nil {
		return "", err
	}
	defer sb.close()
	br, err := sb.nl.LinkByName(bridgeName)
	if isNotFound(err) {
		return "", nil // EnsureNetwork did not get that far
	}
	if err != nil {
		return "", fmt.Errorf("overlay: bridge in %s: %w", nsName, err)
	}
	return br.Attrs().Alias, nil
}

// Endpoints lists the IDs of the tasks attached to a network on this node.
func (m *Manager) Endpoints(networkID string) ([]string, error) {
	if err := validateID("network ID", networkID); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sb, err := m.openSandbox(networkID, false)
	if errors.Is(err, ErrNetworkNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	links, err := endpointLinks(sb)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, l := range links {
		ids = append(ids, l.Attrs().Alias)
	}
	slices.Sort(ids)
	return ids, nil
}

func openSandboxByName(name string) (*sandbox, error) {
	ns, err := netns.GetFromName(name)
	if err != nil {
		return nil, fmt.Errorf("overlay: open netns %s: %w", name, err)
	}
	return newSandbox(name, ns)
}
