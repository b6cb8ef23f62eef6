package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/autolock"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/internal/endpoint"
)

// errLocked is what a locked manager answers every call but UnlockManager.
var errLocked = errors.New("this manager is locked (the cluster's autolock is on): give it its unlock key with 'shoal unlock'")

// Locked reports whether the manager in dataDir keeps its data key
// wrapped under the cluster's unlock key: it must be unlocked
// (WaitUnlock) before it can read its Raft log.
func Locked(dataDir string) bool { return autolock.IsLocked(RaftDir(dataDir)) }

// WaitUnlock serves the admin socket of the locked manager in dataDir
// until 'shoal unlock' gives it the right key (every other call fails with
// FailedPrecondition; the TLS port stays closed), and returns the data key.
func WaitUnlock(ctx context.Context, dataDir string, log *slog.Logger) (*autolock.DataKey, error) {
	lc := &lockedControl{dir: RaftDir(dataDir), unlocked: make(chan *autolock.DataKey, 1), log: log}
	mux := http.NewServeMux()
	mux.Handle(shoalv1connect.NewControlServiceHandler(lc, connect.WithInterceptors(onlyUnlock{})))
	srv, _, err := ServeLocalSocket(filepath.Join(dataDir, endpoint.SocketName), mux, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		// Let the unlock call's answer out before the manager takes the socket.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	log.Warn(errLocked.Error())
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case dk := <-lc.unlocked:
		log.Info("manager unlocked")
		return dk, nil
	}
}

// lockedControl is the ControlService of a locked manager.
type lockedControl struct {
	shoalv1connect.UnimplementedControlServiceHandler
	dir      string
	unlocked chan *autolock.DataKey
	log      *slog.Logger
}

func (l *lockedControl) UnlockManager(_ context.Context, req *connect.Request[shoalv1.UnlockManagerRequest]) (*connect.Response[shoalv1.UnlockManagerResponse], error) {
	kek, err := autolock.ParseKey(req.Msg.GetUnlockKey())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("unlock_key: %w", err))
	}
	dk, err := autolock.Unlock(l.dir, kek)
	if errors.Is(err, autolock.ErrWrongKey) {
		l.log.Warn("unlock refused: wrong key")
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("unlock_key: not the key that locked this manager (if it was rotated while this manager was down, give the previous one)"))
	}
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	select {
	case l.unlocked <- &dk:
	default:
	}
	return connect.NewResponse(&shoalv1.UnlockManagerResponse{}), nil
}

// onlyUnlock refuses every call to a locked manager but UnlockManager.
type onlyUnlock struct{}

func (onlyUnlock) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().Procedure != shoalv1connect.ControlServiceUnlockManagerProcedure {
			return nil, connect.NewError(connect.CodeFailedPrecondition, errLocked)
		}
		return next(ctx, req)
	}
}

func (onlyUnlock) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (onlyUnlock) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(context.Context, connect.StreamingHandlerConn) error {
		return connect.NewError(connect.CodeFailedPrecondition, errLocked)
	}
}

// openDataKey returns the data key sealing the manager's Raft directory
// dir: the one the node unlocked, the one kept plain in its key file, or
// for a new directory a new one (wrapped under the bootstrap's unlock key
// when init turned autolock on). nil means a directory written before
// encryption at rest, which stays plain.
func (m *Manager) openDataKey(dir string) (*autolock.DataKey, error) {
	if m.cfg.DataKey != nil {
		return m.cfg.DataKey, nil
	}
	dk, err := autolock.LoadDataKey(dir)
	switch {
	case err == nil:
		return &dk, nil
	case errors.Is(err, autolock.ErrNoKeyFile) && (m.cfg.Bootstrap != nil || m.cfg.Join != nil):
		var kek *autolock.Key
		if m.cfg.Bootstrap != nil {
			kek = m.cfg.Bootstrap.UnlockKey
		}
		dk, err := autolock.CreateDataKey(dir, kek)
		return &dk, err
	case errors.Is(err, autolock.ErrNoKeyFile):
		m.log.Warn("this manager's Raft log predates encryption at rest and stays unencrypted: demote and promote it to encrypt it")
		return nil, nil
	}
	return nil, err
}

// applyAutolock keeps the key file as the cluster wants it: the data key
// wrapped under Cluster.unlock_key while spec.autolock_managers is on,
// plain otherwise. Called from the goroutine that follows the cluster.
func (m *Manager) applyAutolock(c *shoalv1.Cluster) {
	dk := m.dataKey
	if dk == nil {
		return
	}
	var want *autolock.Key
	if c.GetSpec().GetAutolockManagers() {
		k, err := autolock.KeyFromBytes(c.GetUnlockKey())
		if err != nil {
			m.log.Error("autolock is on but the cluster's unlock key is unusable", "err", err)
			return
		}
		want = &k
	}
	if (dk.Wrapped == nil && want == nil) || (dk.Wrapped != nil && want != nil && dk.Wrapped.Equal(*want)) {
		return
	}
	if err := dk.Save(RaftDir(m.cfg.DataDir), want); err != nil {
		m.log.Error("rewrite the data key file for autolock", "err", err)
		return
	}
	m.log.Info("data key file rewritten", "autolock", want != nil)
}
