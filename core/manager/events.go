package manager

import (
	"context"

	"github.com/shoal-project/shoal/core/api"
)

// startEventHistory starts following the store's changes for WatchEvents,
// before Raft replays its log, until the manager stops. Every manager keeps
// its own history; WatchEvents is forwarded to the leader like the other
// control calls (served locally with the local-read header), and a client
// that reconnects elsewhere resumes by version, which is the same Raft
// index on every manager.
func (m *Manager) startEventHistory() *api.EventHistory {
	h := api.NewEventHistory(m.store, 0, m.log.With("component", "events"))
	ctx, cancel := context.WithCancel(context.Background())
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer cancel()
		go func() { <-m.stopped; cancel() }()
		h.Run(ctx)
	}()
	return h
}
