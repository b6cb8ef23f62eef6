package taskfiles

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/shoal-project/shoal/internal/testenv"
	"github.com/shoal-project/shoal/runtime"
)

func TestPopulateKeepsFilesInATmpfsUntilCleared(t *testing.T) {
	testenv.Root(t, "mounting a tmpfs")
	root := filepath.Join(t.TempDir(), "files")
	files := []runtime.File{
		{Path: "/run/secrets/pw", Data: []byte("s3cret"), UID: 1000, GID: 1001, Mode: 0o400},
		{Path: "/etc/app/app.conf", Data: []byte("a=1"), Mode: 0o444},
	}
	if err := Populate(root, files); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Clear(root) })
	if !mounted(root) {
		t.Fatal("root is not a tmpfs mount")
	}
	for _, f := range files {
		p := Source(root, f)
		data, err := os.ReadFile(p)
		if err != nil || string(data) != string(f.Data) {
			t.Fatalf("%s = %q, %v", f.Path, data, err)
		}
		fi, _ := os.Stat(p)
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != os.FileMode(f.Mode) || st.Uid != f.UID || st.Gid != f.GID {
			t.Errorf("%s: mode %v uid %d gid %d; want %o %d %d", f.Path, fi.Mode().Perm(), st.Uid, st.Gid, f.Mode, f.UID, f.GID)
		}
	}
	// Populating again (an adopted task) keeps what is there.
	if err := Populate(root, files[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(Source(root, files[0])); err != nil {
		t.Fatalf("a second Populate lost the files: %v", err)
	}
	if err := Clear(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after Clear: %v", err)
	}
	if err := Clear(root); err != nil {
		t.Fatalf("second Clear: %v", err)
	}
}

func TestPopulateRefusesPathsOutsideItsRoot(t *testing.T) {
	for _, p := range []string{"relative", "/a/../../etc/passwd", "/"} {
		if err := Populate(t.TempDir(), []runtime.File{{Path: p}}); !errors.Is(err, ErrPath) {
			t.Errorf("Populate(%q) err = %v, want ErrPath", p, err)
		}
	}
}

func TestPopulateWithoutFilesMountsNothing(t *testing.T) {
	root := filepath.Join(t.TempDir(), "files")
	if err := Populate(root, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Populate without files made %s: %v", root, err)
	}
}
