package manager

import (
	"context"
	"net/http"

	"connectrpc.com/connect"
)

// registerExtra mounts the services of the pipeline (dispatcher).
func (m *Manager) registerExtra(mux *http.ServeMux, opts connect.Option) {}

// runLeaderComponents runs the leader-only pipeline until ctx ends.
func (m *Manager) runLeaderComponents(ctx context.Context) { <-ctx.Done() }

func (m *Manager) closeExtra() {}
