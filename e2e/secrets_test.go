package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/diskscan"
)

// tmpfsMounts lists the tmpfs mount points under dir (this process's view).
func tmpfsMounts(t *testing.T, dir string) map[string]bool {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, x := range fields {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(fields) || len(fields) < 5 {
			continue
		}
		if mp := fields[4]; fields[sep+1] == "tmpfs" && strings.HasPrefix(mp, dir+"/") {
			out[mp] = true
		}
	}
	return out
}

// onDisk lists the files under dir, tmpfs mounts left out, that hold marker.
func onDisk(t *testing.T, dir string, marker []byte) []string {
	t.Helper()
	skip := tmpfsMounts(t, dir)
	hits, err := diskscan.Containing(dir, marker, func(p string) bool { return skip[p] })
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// TestContainerdSecretsAndConfigs: a container reads its secret at
// /run/secrets/NAME and its config at its target; the secret's plaintext is
// in no manager's data dir (Raft log, snapshots, everything) and not on the
// worker's disk (only in a tmpfs, gone with the task); a node with no task
// using the secret never holds it. Bad input is refused and changes nothing.
func TestContainerdSecretsAndConfigs(t *testing.T) {
	env := needContainerd(t)
	cc := newCtrCluster(t, env, 2, true)
	w1, w2 := cc.node("w1"), cc.node("w2")
	// Snapshot every 100 entries, so the secret's entry also reaches a snapshot.
	cc.mustCLI("cluster", "update", "--snapshot-interval", "100")

	marker := []byte("shoal-secret-marker-" + hex.EncodeToString(randBytes(t, 12)))
	sum := sha256.Sum256(marker)
	dir := t.TempDir()
	secretFile, configFile := filepath.Join(dir, "secret"), filepath.Join(dir, "config")
	writeFile(t, secretFile, marker)
	writeFile(t, configFile, []byte("listen=8080\n"))
	secID := strings.TrimSpace(cc.mustCLI("secret", "create", "db-pass", secretFile))
	cfgID := strings.TrimSpace(cc.mustCLI("config", "create", "app.conf", configFile))

	reader := []string{"sh", "-c", `sha256sum /run/secrets/db-pass; stat -c 'mode=%a' /run/secrets/db-pass; ` +
		`cat /etc/app.conf; grep -q ' /run/secrets/db-pass tmpfs ' /proc/mounts && echo on-tmpfs; exec sleep 3600`}
	cc.mustCLI(append([]string{"service", "create", "--detach", "--name", "reader", "--constraint", "node.hostname==w1",
		"--secret", "db-pass", "--config", "app.conf,target=/etc/app.conf", "--stop-grace-period", "1s", env.busybox(), "--"}, reader...)...)
	cc.mustCLI("service", "create", "--detach", "--name", "cfgonly", "--constraint", "node.hostname==w2",
		"--config", "app.conf", "--stop-grace-period", "1s", env.busybox(), "--", "sleep", "3600")
	cc.waitRunning("reader", 1)
	cc.waitRunning("cfgonly", 1)

	t.Run("the container reads its secret and config", func(t *testing.T) {
		cc := cc.with(t)
		eventually(t, waitTimeout, "reader's output", func() error {
			out := cc.cli("service", "logs", "reader").Stdout
			for _, want := range []string{hex.EncodeToString(sum[:]), "mode=400", "listen=8080", "on-tmpfs"} {
				if !strings.Contains(out, want) {
					return fmt.Errorf("service logs lack %q:\n%s", want, out)
				}
			}
			return nil
		})
	})

	t.Run("the plaintext is on no disk", func(t *testing.T) {
		cc := cc.with(t)
		churnEntries(t, cc, 120)
		eventually(t, waitTimeout, "the manager took a snapshot", func() error {
			if !strings.Contains(cc.m.log(), "raft: snapshot") {
				return fmt.Errorf("no snapshot in the manager's log yet")
			}
			return nil
		})
		for _, n := range cc.all {
			if hits := onDisk(t, n.dir, marker); len(hits) > 0 {
				t.Errorf("%s: the secret's plaintext is on disk in %v", n.name, hits)
			}
		}
		if len(tmpfsMounts(t, w1.dir)) == 0 {
			t.Error("w1 holds no tmpfs for its task's files")
		}
	})

	t.Run("a node without a task using the secret never gets it", func(t *testing.T) {
		logs := map[string]string{"w1": w1.p.log(), "w2": w2.p.log()}
		held := "the node's tasks' secrets and configs changed"
		if !strings.Contains(logs["w1"], held) || !strings.Contains(logs["w1"], secID) {
			t.Errorf("w1 does not report holding secret %s:\n%s", secID, logs["w1"])
		}
		if !strings.Contains(logs["w2"], cfgID) {
			t.Errorf("w2 does not report holding config %s:\n%s", cfgID, logs["w2"])
		}
		if strings.Contains(logs["w2"], secID) {
			t.Errorf("w2 was sent secret %s:\n%s", secID, logs["w2"])
		}
	})

	t.Run("node ps and service inspect --pretty", func(t *testing.T) {
		cc := cc.with(t)
		ps := cc.mustCLI("node", "ps", "w1")
		if !strings.Contains(ps, "reader.1") || strings.Contains(ps, "cfgonly") {
			t.Errorf("node ps w1 should list reader's task only:\n%s", ps)
		}
		if self := cc.mustCLI("node", "ps"); strings.Contains(self, "reader") || strings.Contains(self, "cfgonly") {
			t.Errorf("node ps (the drained manager) lists tasks:\n%s", self)
		}
		pretty := cc.mustCLI("service", "inspect", "--pretty", "reader")
		for _, want := range []string{"Name:", "reader", "Secrets:", "/run/secrets/db-pass", "db-pass", "Configs:", "/etc/app.conf"} {
			if !strings.Contains(pretty, want) {
				t.Errorf("service inspect --pretty lacks %q:\n%s", want, pretty)
			}
		}
	})

	t.Run("bad input changes nothing", func(t *testing.T) {
		cc := cc.with(t)
		big := filepath.Join(dir, "big")
		writeFile(t, big, bytes.Repeat([]byte{'x'}, 500*1024+1))
		state := func() string {
			svcs, err := plServices(t, cc.m)
			if err != nil {
				t.Fatal(err)
			}
			out := cc.mustCLI("secret", "ls", "--format", "json") + cc.mustCLI("config", "ls", "--format", "json")
			for _, s := range svcs {
				out += fmt.Sprintf("%s@%d ", s.GetSpec().GetName(), s.GetMeta().GetVersion())
			}
			return out
		}
		before := state()
		cases := []struct {
			args []string
			want string
		}{
			{[]string{"service", "create", "--detach", "--name", "nope", "--secret", "nosuch", env.busybox()}, `secret "nosuch" not found`},
			{[]string{"secret", "create", "big", big}, "500 KiB"},
			{[]string{"secret", "rm", "db-pass"}, "in use by service(s) reader"},
			{[]string{"config", "rm", "app.conf"}, "in use by service(s) cfgonly, reader"},
		}
		for _, tc := range cases {
			r := cc.cli(tc.args...)
			if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("%s\nwant a failure saying %q", r, tc.want)
			}
		}
		if after := state(); after != before {
			t.Errorf("refused calls changed the cluster:\nbefore %s\nafter %s", before, after)
		}
		if out := cc.mustCLI("secret", "inspect", "db-pass"); strings.Contains(out, string(marker)) || strings.Contains(out, "sealed") {
			t.Errorf("secret inspect shows the data:\n%s", out)
		}
	})

	t.Run("the files go with the task", func(t *testing.T) {
		cc := cc.with(t)
		cc.mustCLI("service", "rm", "reader", "cfgonly")
		eventually(t, 2*waitTimeout, "w1's task and its tmpfs are gone", func() error {
			if m := tmpfsMounts(t, w1.dir); len(m) > 0 {
				return fmt.Errorf("tmpfs mounts left: %v", m)
			}
			return cc.leftovers(w1)
		})
		cc.mustCLI("secret", "rm", "db-pass")
		cc.mustCLI("config", "rm", "app.conf")
	})
}

// churnEntries writes n small Raft entries (node label updates).
func churnEntries(t *testing.T, cc *ctrCluster, n int) {
	t.Helper()
	cl := cc.m.apiClient(t, false)
	for i := range n {
		_, err := cl.Control.UpdateNode(t.Context(), connect.NewRequest(&shoalv1.UpdateNodeRequest{Node: cc.m.nodeID,
			LabelAdd: map[string]string{"churn": fmt.Sprint(i)}}))
		if err != nil {
			t.Fatal(err)
		}
	}
}

func randBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
