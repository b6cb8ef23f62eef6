package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func describeFiles(t *shoalv1.TaskSpec) string {
	var parts []string
	for _, r := range t.GetSecrets() {
		parts = append(parts, fmt.Sprintf("s:%s>%s/%o/%d/%d", r.GetSecretName(), r.GetTarget(), r.GetMode(), r.GetUid(), r.GetGid()))
	}
	for _, r := range t.GetConfigs() {
		parts = append(parts, fmt.Sprintf("c:%s>%s/%o", r.GetConfigName(), r.GetTarget(), r.GetMode()))
	}
	return strings.Join(parts, " ")
}

func TestSecretAndConfigFlags(t *testing.T) {
	stored := func() *shoalv1.TaskSpec {
		return &shoalv1.TaskSpec{
			Secrets: []*shoalv1.SecretReference{{SecretId: "id1", SecretName: "old", Target: "old", Mode: 0o400}},
			Configs: []*shoalv1.ConfigReference{{ConfigId: "id2", ConfigName: "app", Target: "/app", Mode: 0o444}},
		}
	}
	cases := []struct {
		name    string
		args    []string
		want    string
		wantErr string
	}{
		{"secret with options", []string{"--secret", "pw,target=db,mode=0440,uid=33,gid=34"}, "s:old>old/400/0/0 s:pw>db/440/33/34 c:app>/app/444", ""},
		{"defaults left to the managers", []string{"--secret", "pw", "--config", "nginx"}, "s:old>old/400/0/0 s:pw>pw/0/0/0 c:app>/app/444 c:nginx>/nginx/0", ""},
		{"long form", []string{"--secret", "source=pw,target=x"}, "s:old>old/400/0/0 s:pw>x/0/0/0 c:app>/app/444", ""},
		{"same target replaces", []string{"--secret", "new,target=old", "--config", "app2,target=/app"}, "s:new>old/0/0/0 c:app2>/app/0", ""},
		{"removed by name and by ID", []string{"--secret-rm", "old", "--config-rm", "id2"}, "", ""},
		{"bad mode", []string{"--secret", "pw,mode=999"}, "", `--secret "pw,mode=999": mode`},
		{"unknown option", []string{"--config", "app,owner=me"}, "", `unknown option "owner=me"`},
		{"no name", []string{"--secret", "target=x"}, "", "give the secret's name first"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var f fileFlags
			fs := pflag.NewFlagSet("update", pflag.ContinueOnError)
			f.register(fs, true)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			ts := stored()
			err := f.apply(ts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := describeFiles(ts); got != tc.want {
				t.Fatalf("files = %q, want %q", got, tc.want)
			}
		})
	}
}
