package api

import (
	"cmp"
	"errors"
	"fmt"
	"path"
	"strings"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// refIDs lists the IDs of the secrets (k = KindSecret) or configs a task
// spec uses.
func refIDs(t *shoalv1.TaskSpec, k store.Kind) []string {
	var out []string
	if k == store.KindSecret {
		for _, r := range t.GetSecrets() {
			out = append(out, r.GetSecretId())
		}
		return out
	}
	for _, r := range t.GetConfigs() {
		out = append(out, r.GetConfigId())
	}
	return out
}

// validateFileRefs checks a task spec's secret and config references on
// their own (which objects they name is checked when the spec is stored).
func validateFileRefs(t *shoalv1.TaskSpec) error {
	for i, r := range t.GetSecrets() {
		field := fmt.Sprintf("spec.task.secrets[%d]", i)
		if r.GetSecretId() == "" && r.GetSecretName() == "" {
			return invalidArg("%s: give the secret's name or ID", field)
		}
		if tg := r.GetTarget(); tg != "" && (strings.Contains(tg, "/") || tg == "." || tg == "..") {
			return invalidArg("%s.target %q: a file name under %s, without '/'", field, tg, SecretsDir)
		}
		if err := validateMode(field, r.GetMode()); err != nil {
			return err
		}
	}
	for i, r := range t.GetConfigs() {
		field := fmt.Sprintf("spec.task.configs[%d]", i)
		if r.GetConfigId() == "" && r.GetConfigName() == "" {
			return invalidArg("%s: give the config's name or ID", field)
		}
		if tg := r.GetTarget(); tg != "" && (!path.IsAbs(tg) || path.Clean(tg) != tg || tg == "/") {
			return invalidArg("%s.target %q: give an absolute, clean file path such as /etc/app.conf", field, tg)
		}
		if err := validateMode(field, r.GetMode()); err != nil {
			return err
		}
	}
	return nil
}

func validateMode(field string, mode uint32) error {
	if mode > 0o777 {
		return invalidArg("%s.mode %#o: give permission bits, 0 to 0777 (e.g. 0400)", field, mode)
	}
	return nil
}

// fileTargets makes sure no two of a task's files land on one path.
type fileTargets map[string]string

func (ft fileTargets) claim(field, p string) error {
	if other, ok := ft[p]; ok {
		return invalidArg("%s: target %s is also the target of %s; give one of them another target", field, p, other)
	}
	ft[p] = field
	return nil
}

// resolveRef finds the object a reference names: by ID when it has one (a
// spec read back), else by the name or ID prefix the user gave.
func resolveRef[T any](tx store.ReadTx, what, field, id, name string, resolve func(store.ReadTx, string) (T, error)) (T, error) {
	ref := id
	if ref == "" {
		ref = name
	}
	o, err := resolve(tx, ref)
	var cerr *connect.Error
	if errors.As(err, &cerr) && cerr.Code() == connect.CodeNotFound {
		return o, notFoundDetail(what, ref, fmt.Sprintf("%s: %s %q not found", field, what, ref))
	}
	return o, err
}

// resolveServiceFiles points the spec's secret and config references at
// existing objects by ID (keeping their names for display) and fills in
// the default targets and modes.
func resolveServiceFiles(tx store.ReadTx, sp *shoalv1.ServiceSpec) error {
	targets := fileTargets{}
	for i, r := range sp.GetTask().GetSecrets() {
		field := fmt.Sprintf("spec.task.secrets[%d]", i)
		sec, err := resolveRef(tx, KindSecret, field, r.GetSecretId(), r.GetSecretName(), resolveSecret)
		if err != nil {
			return err
		}
		r.SecretId, r.SecretName = sec.GetId(), sec.GetSpec().GetName()
		r.Target = cmp.Or(r.GetTarget(), r.GetSecretName())
		r.Mode = cmp.Or(r.GetMode(), DefaultSecretMode)
		if err := targets.claim(field, path.Join(SecretsDir, r.GetTarget())); err != nil {
			return err
		}
	}
	for i, r := range sp.GetTask().GetConfigs() {
		field := fmt.Sprintf("spec.task.configs[%d]", i)
		cfg, err := resolveRef(tx, KindConfig, field, r.GetConfigId(), r.GetConfigName(), resolveConfig)
		if err != nil {
			return err
		}
		r.ConfigId, r.ConfigName = cfg.GetId(), cfg.GetSpec().GetName()
		r.Target = cmp.Or(r.GetTarget(), "/"+r.GetConfigName())
		r.Mode = cmp.Or(r.GetMode(), DefaultConfigMode)
		if err := targets.claim(field, r.GetTarget()); err != nil {
			return err
		}
	}
	return nil
}
