package main

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// fileFlags are the --secret and --config flags of service create and
// update (with --secret-rm and --config-rm on update).
type fileFlags struct {
	secrets, configs   []string
	secretRm, configRm []string
}

func (f *fileFlags) register(fl *pflag.FlagSet, update bool) {
	fl.StringArrayVar(&f.secrets, "secret", nil, "give the tasks a secret at /run/secrets/TARGET: NAME[,target=FILE][,mode=0400][,uid=0][,gid=0] (repeatable)")
	fl.StringArrayVar(&f.configs, "config", nil, "give the tasks a config file: NAME[,target=/PATH][,mode=0444][,uid=0][,gid=0] (repeatable; default target /NAME)")
	if update {
		fl.StringArrayVar(&f.secretRm, "secret-rm", nil, "take a secret (name or ID) away from the tasks (repeatable)")
		fl.StringArrayVar(&f.configRm, "config-rm", nil, "take a config (name or ID) away from the tasks (repeatable)")
	}
}

// fileRef is one parsed --secret or --config value.
type fileRef struct {
	name, target  string
	uid, gid, mod uint32
}

// parseFileRef parses NAME[,target=..][,mode=..][,uid=..][,gid=..]
// (source=NAME also names it, as docker's long form).
func parseFileRef(flag, s string) (fileRef, error) {
	var r fileRef
	for i, part := range strings.Split(s, ",") {
		k, v, kv := strings.Cut(part, "=")
		if !kv && i == 0 {
			r.name = k
			continue
		}
		var err error
		switch k {
		case "source", "src":
			r.name = v
		case "target":
			r.target = v
		case "mode":
			r.mod, err = parseUint32(v, 8)
		case "uid":
			r.uid, err = parseUint32(v, 10)
		case "gid":
			r.gid, err = parseUint32(v, 10)
		default:
			return r, fmt.Errorf("--%s %q: unknown option %q; use NAME[,target=...][,mode=0400][,uid=N][,gid=N]", flag, s, part)
		}
		if err != nil {
			return r, fmt.Errorf("--%s %q: %s %q: %v", flag, s, k, v, err)
		}
	}
	if r.name == "" {
		return r, fmt.Errorf("--%s %q: give the %s's name first, e.g. --%s db-pass,target=pw", flag, s, flag, flag)
	}
	return r, nil
}

func parseUint32(v string, base int) (uint32, error) {
	n, err := strconv.ParseUint(v, base, 32)
	return uint32(n), err
}

// apply removes the --*-rm files, then adds (or, on the same target,
// replaces) the --secret and --config ones.
func (f *fileFlags) apply(t *shoalv1.TaskSpec) error {
	t.Secrets = slices.DeleteFunc(t.Secrets, func(r *shoalv1.SecretReference) bool {
		return slices.Contains(f.secretRm, r.GetSecretName()) || slices.Contains(f.secretRm, r.GetSecretId())
	})
	t.Configs = slices.DeleteFunc(t.Configs, func(r *shoalv1.ConfigReference) bool {
		return slices.Contains(f.configRm, r.GetConfigName()) || slices.Contains(f.configRm, r.GetConfigId())
	})
	for _, s := range f.secrets {
		r, err := parseFileRef("secret", s)
		if err != nil {
			return err
		}
		target := cmp.Or(r.target, r.name)
		t.Secrets = slices.DeleteFunc(t.Secrets, func(o *shoalv1.SecretReference) bool { return o.GetTarget() == target })
		t.Secrets = append(t.Secrets, &shoalv1.SecretReference{SecretName: r.name, Target: target, Mode: r.mod, Uid: r.uid, Gid: r.gid})
	}
	for _, s := range f.configs {
		r, err := parseFileRef("config", s)
		if err != nil {
			return err
		}
		target := cmp.Or(r.target, path.Join("/", r.name))
		t.Configs = slices.DeleteFunc(t.Configs, func(o *shoalv1.ConfigReference) bool { return o.GetTarget() == target })
		t.Configs = append(t.Configs, &shoalv1.ConfigReference{ConfigName: r.name, Target: target, Mode: r.mod, Uid: r.uid, Gid: r.gid})
	}
	return nil
}
