package process

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/internal/diskscan"
	"github.com/shoal-project/shoal/internal/testenv"
	"github.com/shoal-project/shoal/runtime"
)

func TestProcessGetsItsFilesInATmpfsFreedWhenItEnds(t *testing.T) {
	testenv.Root(t, "mounting the task's tmpfs")
	dir := t.TempDir()
	b := newBackend(t, dir)
	marker := "marker-5c0ffee-process"
	sum := sha256.Sum256([]byte(marker))
	spec := shSpec("files", `sha256sum "$SHOAL_SECRETS_DIR/pw"; `+
		`cat "$SHOAL_CONFIGS_DIR/etc/app.conf"; stat -c '%a %u' "$SHOAL_SECRETS_DIR/pw"; `+
		`stat -f -c %T "$SHOAL_CONFIGS_DIR"; test -w "$SHOAL_SECRETS_DIR/pw" || echo read-only`)
	spec.Files = []runtime.File{
		{Path: "/run/secrets/pw", Data: []byte(marker), Mode: 0o400},
		{Path: "/etc/app.conf", Data: []byte("a=1\n"), Mode: 0o444},
	}
	c := run(t, b, spec)
	if _, err := c.Wait(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(texts(collectLogs(t, c, runtime.LogOptions{Tail: -1})), "\n")
	for _, want := range []string{"stdout:" + hex.EncodeToString(sum[:]), "stdout:a=1", "stdout:400 0", "stdout:tmpfs"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if hits, _ := diskscan.Containing(dir, []byte(marker), nil); len(hits) > 0 {
		t.Fatalf("the secret is on disk after the task ended: %v", hits)
	}
	if _, err := os.Stat(filepath.Join(dir, "tasks", "files", dirFiles)); err == nil {
		t.Fatal("the task's files outlived it")
	}
}
