package api

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/autolock"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// keepUnlockKey gives cluster c an unlock key while its spec turns
// autolock on (a new one when it has none) and drops it when off: each
// manager then rewraps its data key (core/manager).
func (s *Server) keepUnlockKey(c *shoalv1.Cluster) error {
	if !c.GetSpec().GetAutolockManagers() {
		c.UnlockKey = nil
		return nil
	}
	if len(c.GetUnlockKey()) == autolock.KeySize {
		return nil
	}
	k, err := autolock.NewKey(s.rand)
	if err != nil {
		return err
	}
	c.UnlockKey = k[:]
	return nil
}

// GetUnlockKey returns the cluster's unlock key, a new one first with
// rotate (each manager rewraps its data key under it).
func (s *Server) GetUnlockKey(ctx context.Context, req *connect.Request[shoalv1.GetUnlockKeyRequest]) (*connect.Response[shoalv1.GetUnlockKeyResponse], error) {
	var c *shoalv1.Cluster
	var err error
	if req.Msg.GetRotate() {
		err = s.store.Update(ctx, func(tx store.Tx) error {
			if c, err = clusterObj(tx); err != nil {
				return err
			}
			if !c.GetSpec().GetAutolockManagers() {
				return errAutolockOff
			}
			c.UnlockKey = nil
			if err := s.keepUnlockKey(c); err != nil {
				return err
			}
			return tx.Update(c)
		})
	} else {
		err = s.read(ctx, func(tx store.ReadTx) (err error) { c, err = clusterObj(tx); return err })
	}
	if err != nil {
		return nil, storeErr(err)
	}
	res := &shoalv1.GetUnlockKeyResponse{}
	if k, err := autolock.KeyFromBytes(c.GetUnlockKey()); err == nil && c.GetSpec().GetAutolockManagers() {
		res.UnlockKey = k.String()
	}
	return connect.NewResponse(res), nil
}

var errAutolockOff = connect.NewError(connect.CodeFailedPrecondition, errors.New("autolock is off: set the cluster spec's autolock_managers first"))

// UnlockManager is answered here only by a manager that is not locked (a
// locked one answers from core/manager before its API exists).
func (s *Server) UnlockManager(context.Context, *connect.Request[shoalv1.UnlockManagerRequest]) (*connect.Response[shoalv1.UnlockManagerResponse], error) {
	return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("this manager is not locked"))
}
