package api

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/secrets"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/ids"
)

// Kinds of the objects tasks get as files.
const (
	KindSecret = "secret"
	KindConfig = "config"
)

// Defaults of a task's secret and config files.
const (
	SecretsDir        = "/run/secrets"
	DefaultSecretMode = 0o400
	DefaultConfigMode = 0o444
)

// fileNameRE is swarm's rule for secret and config names: a secret's name
// is also its default file name under SecretsDir.
var fileNameRE = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9_.-]{0,62}[a-zA-Z0-9])?$`)

// validateFileSpec checks what a secret and a config spec have in common.
func validateFileSpec(what, name string, labels map[string]string, data []byte) error {
	if !fileNameRE.MatchString(name) {
		return invalidArg("spec.name %q: a %s name is 1-64 letters, digits, '-', '_' and '.', starting and ending with a letter or digit", name, what)
	}
	if err := validateLabels("spec.labels", labels); err != nil {
		return err
	}
	if len(data) == 0 {
		return invalidArg("spec.data: empty; give the %s's content", what)
	}
	if len(data) > secrets.MaxSize {
		return invalidArg("spec.data: %d bytes is over the %s size limit of %d bytes (500 KiB)", len(data), what, secrets.MaxSize)
	}
	return nil
}

func validateSecretSpec(sp *shoalv1.SecretSpec) error {
	if sp == nil {
		return invalidArg("spec: required")
	}
	return validateFileSpec(KindSecret, sp.GetName(), sp.GetLabels(), sp.GetData())
}

func validateConfigSpec(sp *shoalv1.ConfigSpec) error {
	if sp == nil {
		return invalidArg("spec: required")
	}
	return validateFileSpec(KindConfig, sp.GetName(), sp.GetLabels(), sp.GetData())
}

// nameFree refuses a second object of kind k named name.
func nameFree(tx store.ReadTx, k store.Kind, what, name string) error {
	n, err := tx.Count(k, store.ByName(name))
	if err != nil {
		return err
	}
	if n > 0 {
		return connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("spec.name: a %s named %q exists; pick another name", what, name))
	}
	return nil
}

// secretKey returns the cluster's secret data key, making it (in the
// same write) when this is the first secret.
func (s *Server) secretKey(tx store.Tx) ([]byte, error) {
	c, err := clusterObj(tx)
	if err != nil {
		return nil, err
	}
	if len(c.GetSecretDataKey()) == secrets.KeySize {
		return c.GetSecretDataKey(), nil
	}
	if c.SecretDataKey, err = secrets.NewKey(s.rand); err != nil {
		return nil, err
	}
	return c.SecretDataKey, tx.Update(c)
}

// redactSecret strips the sealed data: no API answer carries a secret's data.
func redactSecret(sec *shoalv1.Secret) *shoalv1.Secret {
	sec = proto.CloneOf(sec)
	sec.SealedData = nil
	if sec.Spec != nil {
		sec.Spec.Data = nil
	}
	return sec
}

// CreateSecret stores a secret with its data sealed by the cluster's data
// key: the Raft entry, and every snapshot after it, hold only ciphertext.
func (s *Server) CreateSecret(ctx context.Context, req *connect.Request[shoalv1.CreateSecretRequest]) (*connect.Response[shoalv1.CreateSecretResponse], error) {
	sp := req.Msg.GetSpec()
	if err := validateSecretSpec(sp); err != nil {
		return nil, err
	}
	sec := &shoalv1.Secret{Id: ids.New(), Spec: &shoalv1.SecretSpec{Name: sp.GetName(), Labels: sp.GetLabels()},
		Size: uint64(len(sp.GetData()))}
	err := s.store.Update(ctx, func(tx store.Tx) error {
		if err := nameFree(tx, store.KindSecret, KindSecret, sp.GetName()); err != nil {
			return err
		}
		key, err := s.secretKey(tx)
		if err != nil {
			return err
		}
		if sec.SealedData, err = secrets.Seal(key, sec.GetId(), sp.GetData(), s.rand); err != nil {
			return err
		}
		return tx.Create(sec)
	})
	if err != nil {
		return nil, storeErr(err)
	}
	out := storedOr(s.store, store.KindSecret, sec)
	return connect.NewResponse(&shoalv1.CreateSecretResponse{Secret: redactSecret(out)}), nil
}

// storedOr reads o back as stored (with its Meta), else returns o.
func storedOr[T store.Object](st *store.Store, k store.Kind, o T) T {
	_ = st.View(func(tx store.ReadTx) error {
		if got, ok := tx.Get(k, o.GetId()).(T); ok {
			o = got
		}
		return nil
	})
	return o
}

func (s *Server) CreateConfig(ctx context.Context, req *connect.Request[shoalv1.CreateConfigRequest]) (*connect.Response[shoalv1.CreateConfigResponse], error) {
	sp := req.Msg.GetSpec()
	if err := validateConfigSpec(sp); err != nil {
		return nil, err
	}
	cfg := &shoalv1.Config{Id: ids.New(), Spec: proto.CloneOf(sp)}
	err := s.store.Update(ctx, func(tx store.Tx) error {
		if err := nameFree(tx, store.KindConfig, KindConfig, sp.GetName()); err != nil {
			return err
		}
		return tx.Create(cfg)
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return connect.NewResponse(&shoalv1.CreateConfigResponse{Config: storedOr(s.store, store.KindConfig, cfg)}), nil
}

func resolveSecret(tx store.ReadTx, ref string) (*shoalv1.Secret, error) {
	return resolveByName(tx, store.KindSecret, KindSecret, ref, tx.FindSecrets, tx.GetSecret)
}

func resolveConfig(tx store.ReadTx, ref string) (*shoalv1.Config, error) {
	return resolveByName(tx, store.KindConfig, KindConfig, ref, tx.FindConfigs, tx.GetConfig)
}

// readOne answers a Get: the object ref names, read linearizably.
func readOne[T any](s *Server, ctx context.Context, ref string, resolve func(store.ReadTx, string) (T, error)) (T, error) {
	var out T
	err := s.read(ctx, func(tx store.ReadTx) (err error) {
		out, err = resolve(tx, ref)
		return err
	})
	return out, storeErr(err)
}

// readAll answers a List.
func readAll[T any](s *Server, ctx context.Context, find func(store.ReadTx) ([]T, error)) ([]T, error) {
	var out []T
	err := s.read(ctx, func(tx store.ReadTx) (err error) {
		out, err = find(tx)
		return err
	})
	return out, storeErr(err)
}

func (s *Server) GetSecret(ctx context.Context, req *connect.Request[shoalv1.GetSecretRequest]) (*connect.Response[shoalv1.GetSecretResponse], error) {
	sec, err := readOne(s, ctx, req.Msg.GetSecret(), resolveSecret)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&shoalv1.GetSecretResponse{Secret: redactSecret(sec)}), nil
}

func (s *Server) ListSecrets(ctx context.Context, _ *connect.Request[shoalv1.ListSecretsRequest]) (*connect.Response[shoalv1.ListSecretsResponse], error) {
	secs, err := readAll(s, ctx, func(tx store.ReadTx) ([]*shoalv1.Secret, error) { return tx.FindSecrets(store.All()) })
	if err != nil {
		return nil, err
	}
	for i, sec := range secs {
		secs[i] = redactSecret(sec)
	}
	return connect.NewResponse(&shoalv1.ListSecretsResponse{Secrets: secs}), nil
}

func (s *Server) GetConfig(ctx context.Context, req *connect.Request[shoalv1.GetConfigRequest]) (*connect.Response[shoalv1.GetConfigResponse], error) {
	cfg, err := readOne(s, ctx, req.Msg.GetConfig(), resolveConfig)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&shoalv1.GetConfigResponse{Config: cfg}), nil
}

func (s *Server) ListConfigs(ctx context.Context, _ *connect.Request[shoalv1.ListConfigsRequest]) (*connect.Response[shoalv1.ListConfigsResponse], error) {
	cfgs, err := readAll(s, ctx, func(tx store.ReadTx) ([]*shoalv1.Config, error) { return tx.FindConfigs(store.All()) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&shoalv1.ListConfigsResponse{Configs: cfgs}), nil
}

// removeUnused removes the secret or config (kind k) that resolve finds
// (with its name, for the error) unless a service's spec uses it.
func (s *Server) removeUnused(ctx context.Context, k store.Kind, resolve func(store.ReadTx) (store.Object, string, error)) error {
	return storeErr(s.store.Update(ctx, func(tx store.Tx) error {
		o, name, err := resolve(tx)
		if err != nil {
			return err
		}
		users, err := fileUsers(tx, k, o.GetId())
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return precondition("%s %q is in use by service(s) %s: take it out of their specs, or remove them, first",
				k, name, strings.Join(users, ", "))
		}
		return tx.Delete(k, o.GetId())
	}))
}

func (s *Server) RemoveSecret(ctx context.Context, req *connect.Request[shoalv1.RemoveSecretRequest]) (*connect.Response[shoalv1.RemoveSecretResponse], error) {
	err := s.removeUnused(ctx, store.KindSecret, func(tx store.ReadTx) (store.Object, string, error) {
		sec, err := resolveSecret(tx, req.Msg.GetSecret())
		return sec, sec.GetSpec().GetName(), err
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&shoalv1.RemoveSecretResponse{}), nil
}

func (s *Server) RemoveConfig(ctx context.Context, req *connect.Request[shoalv1.RemoveConfigRequest]) (*connect.Response[shoalv1.RemoveConfigResponse], error) {
	err := s.removeUnused(ctx, store.KindConfig, func(tx store.ReadTx) (store.Object, string, error) {
		cfg, err := resolveConfig(tx, req.Msg.GetConfig())
		return cfg, cfg.GetSpec().GetName(), err
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&shoalv1.RemoveConfigResponse{}), nil
}

// fileUsers returns the names of the services whose spec uses the secret
// or config (kind k) with id.
func fileUsers(tx store.ReadTx, k store.Kind, id string) ([]string, error) {
	var names []string
	err := tx.Range(store.KindService, store.All(), func(o store.Object) bool {
		svc := o.(*shoalv1.Service)
		if slices.Contains(refIDs(svc.GetSpec().GetTask(), k), id) {
			names = append(names, svc.GetSpec().GetName())
		}
		return true
	})
	sort.Strings(names)
	return names, err
}
