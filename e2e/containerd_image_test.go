package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// TestContainerdImageLoad: `shoal image load` imports docker and OCI archives
// into the node's namespace, and a service runs the imported image by a name no
// registry serves; wrong input gets one clear line.
func TestContainerdImageLoad(t *testing.T) {
	env := needContainerd(t)
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Fatal("skopeo is not installed (scripts/install-deps.sh installs it); it writes the test archives")
	}
	cc := newCtrCluster(t, env, 0, false)
	m := cc.node("m")
	dir := t.TempDir()
	archives := []struct{ file, format, name string }{
		{"docker.tar", "docker-archive", "shoal.test/busybox:docker"},
		{"oci.tar", "oci-archive", "shoal.test/busybox:oci"},
	}
	for _, a := range archives {
		ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
		out, err := exec.CommandContext(ctx, "skopeo", "copy", "--quiet", "--src-tls-verify=false",
			"docker://"+env.busybox(), a.format+":"+filepath.Join(dir, a.file)+":"+a.name).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("skopeo copy to %s: %v: %s", a.format, err, out)
		}
	}

	for i, a := range archives {
		t.Run(a.format, func(t *testing.T) {
			cc := cc.with(t)
			var out string
			if i == 0 {
				out = mustRun(t, "image", "load", "--data-dir", m.dir, "--containerd-address", env.addr, filepath.Join(dir, a.file))
			} else { // from standard input
				f, err := os.Open(filepath.Join(dir, a.file))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
				defer cancel()
				cmd := exec.CommandContext(ctx, shoalBin, "image", "load", "--data-dir", m.dir, "--containerd-address", env.addr, "-")
				cmd.Stdin = f
				b, err := cmd.Output()
				if err != nil {
					t.Fatalf("image load - < %s: %v", a.file, err)
				}
				out = string(b)
			}
			if !strings.Contains(out, a.name) {
				t.Fatalf("image load printed %q, want %s", out, a.name)
			}
			if ls := cc.mustCtr("-n", m.ns(), "images", "ls", "-q"); !strings.Contains(ls, a.name) {
				t.Fatalf("%s not in the node's namespace: %s", a.name, ls)
			}
			// shoal.test resolves nowhere: only the imported image can run.
			svc := fmt.Sprintf("loaded%d", i)
			cc.mustCLI("service", "create", "--detach", "--name", svc, "--restart-condition", "none", a.name, "--", "sh", "-c", "echo ran-from-archive")
			eventually(t, 2*waitTimeout, svc+" completes", func() error {
				ts, err := cc.tasks(svc)
				if err != nil {
					return err
				}
				if len(ts) != 1 {
					return fmt.Errorf("%d tasks", len(ts))
				}
				if s := ts[0].GetStatus().GetState(); s != shoalv1.TaskState_TASK_STATE_COMPLETE {
					return fmt.Errorf("task is %v (%s)", s, ts[0].GetStatus().GetErr())
				}
				return nil
			})
			cc.mustCLI("service", "rm", svc)
			eventually(t, waitTimeout, "nothing left", func() error { return cc.leftovers(m) })
		})
	}

	notTar := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notTar, []byte("not an image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		args []string
		want string
	}{
		{"no node in data dir", []string{"--data-dir", t.TempDir(), "--containerd-address", env.addr, filepath.Join(dir, "docker.tar")}, "no node in data dir"},
		{"containerd unreachable", []string{"--data-dir", m.dir, "--containerd-address", filepath.Join(dir, "nope.sock"), filepath.Join(dir, "docker.tar")}, "containerd is not reachable"},
		{"not an archive", []string{"--data-dir", m.dir, "--containerd-address", env.addr, notTar}, "is not an image archive"},
		{"missing file", []string{"--data-dir", m.dir, "--containerd-address", env.addr, filepath.Join(dir, "missing.tar")}, "no such file"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, append([]string{"image", "load"}, tc.args...)...)
			t.Logf("%s", r)
			if r.Code == 0 {
				t.Fatalf("exit 0:\n%s", r)
			}
			se := strings.TrimSpace(r.Stderr)
			if !strings.Contains(strings.ToLower(se), tc.want) || strings.Count(se, "\n") > 0 {
				t.Fatalf("want one line mentioning %q:\n%s", tc.want, r)
			}
			if strings.TrimSpace(r.Stdout) != "" {
				t.Fatalf("printed on stdout although it failed:\n%s", r)
			}
		})
	}
}
