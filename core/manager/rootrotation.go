package manager

import (
	"context"
	"errors"
	"time"

	"github.com/shoal-project/shoal/core/api"
	"github.com/shoal-project/shoal/core/store"
)

// rootRotationCheck is how often the leader looks whether a root rotation
// can finish: nodes poll for their new certificate every couple of seconds.
const rootRotationCheck = time.Second

// runRootRotation finishes a root rotation once every node that is not
// DOWN has moved to the new root (api.FinishRootRotation), until ctx ends.
func (m *Manager) runRootRotation(ctx context.Context) error {
	t := time.NewTicker(rootRotationCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if !m.rotationPending() {
			continue
		}
		var done bool
		err := m.store.Update(ctx, func(tx store.Tx) (err error) {
			done, err = api.FinishRootRotation(tx)
			return err
		})
		switch {
		case done:
			m.log.Info("root CA rotation finished: the new root is the cluster's, the old one is no longer trusted")
		case err != nil && !errors.Is(err, api.ErrRotationPending) && ctx.Err() == nil:
			m.log.Warn("finish the root CA rotation", "err", err)
		}
	}
}

func (m *Manager) rotationPending() bool {
	pending := false
	_ = m.store.View(func(tx store.ReadTx) error {
		cs, _ := tx.FindClusters(store.All())
		pending = len(cs) > 0 && cs[0].GetRootRotation() != nil
		return nil
	})
	return pending
}
