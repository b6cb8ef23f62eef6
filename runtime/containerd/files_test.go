package containerd

import (
	"os"
	"testing"

	"github.com/shoal-project/shoal/runtime"
)

func TestSecretAndConfigFilesAreReadOnlyTmpfsMountsFreedOnExit(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	s := spec("files", "sh", "-c", `cat /run/secrets/pw; echo; cat /etc/app/app.conf; echo; stat -c '%a %u:%g' /run/secrets/pw; `+
		`grep -c ' /run/secrets/pw tmpfs ro,' /proc/mounts; (echo x > /run/secrets/pw) 2>/dev/null && echo writable || echo read-only`)
	s.ReadOnlyRootfs = true
	s.Files = []runtime.File{
		{Path: "/run/secrets/pw", Data: []byte("s3cret"), UID: 1000, GID: 1001, Mode: 0o400},
		{Path: "/etc/app/app.conf", Data: []byte("a=1"), Mode: 0o444},
	}
	c := run(t, b, s)
	if _, err := c.Wait(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got, want := collectLogs(t, c, runtime.LogOptions{Tail: -1}), "s3cret\na=1\n400 1000:1001\n1\nread-only\n"; got != want {
		t.Fatalf("logs = %q, want %q", got, want)
	}
	if _, err := os.Stat(b.filesDir("files")); !os.IsNotExist(err) {
		t.Fatalf("the task's files outlived its exit: %v", err)
	}
	remove(t, c)
}
