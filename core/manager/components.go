package manager

import "context"

// addLeaderComponents adds the allocator and plugin-driven components.
func (m *Manager) addLeaderComponents(c map[string]func(context.Context) error) {}
