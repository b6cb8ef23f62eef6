package atomicfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteReplacesFileWithPerm(t *testing.T) {
	for _, tc := range []struct {
		name string
		old  string // "" = no file before
		data string
		perm os.FileMode
	}{
		{name: "new file", data: "one", perm: 0o600},
		{name: "replaces old", old: "old contents", data: "two", perm: 0o644},
		{name: "empty data", old: "old", data: "", perm: 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state")
			if tc.old != "" {
				mustWriteFile(t, path, tc.old)
			}
			if err := Write(path, []byte(tc.data), tc.perm); err != nil {
				t.Fatal(err)
			}
			wantFile(t, path, tc.data)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tc.perm {
				t.Fatalf("mode %v, want %v", fi.Mode().Perm(), tc.perm)
			}
			wantOnlyFile(t, filepath.Dir(path), "state")
		})
	}
}

func TestWriteJSONIsReadableBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.json")
	if err := WriteJSON(path, map[string]int{"a": 1}, 0o600); err != nil {
		t.Fatal(err)
	}
	wantFile(t, path, "{\n  \"a\": 1\n}")
}

func TestWriteJSONRefusesUnencodableValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.json")
	err := WriteJSON(path, func() {}, 0o600)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want an encode error naming %s", err, path)
	}
}

// failingReader gives half its data, then fails: a write that breaks off.
type failingReader struct{ data []byte }

var errBroken = errors.New("broken off")

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, errBroken
	}
	n := copy(p, r.data[:len(r.data)/2+1])
	r.data = r.data[n:]
	if len(r.data) == 0 {
		return n, errBroken
	}
	return n, nil
}

func TestFailedWriteLeavesOldFileAndNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	mustWriteFile(t, path, "old")
	err := write(path, &failingReader{data: []byte("new contents")}, 0o600)
	if !errors.Is(err, errBroken) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want %v naming %s", err, errBroken, path)
	}
	wantFile(t, path, "old")
	wantOnlyFile(t, dir, "state")
}

func TestWriteIntoMissingDirFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "state")
	if err := Write(path, []byte("x"), 0o600); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

// blockingReader gives its data and then blocks for ever: the process is
// killed in the middle of a write.
type blockingReader struct{ data []byte }

func (r *blockingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		select {}
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

const crashEnv = "ATOMICFILE_CRASH_PATH"

// TestCrashHelper is the process that is killed mid-write by
// TestCrashMidWriteLeavesOldFile; run alone it does nothing.
func TestCrashHelper(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	_ = write(path, &blockingReader{data: []byte("half of the new")}, 0o600)
}

func TestCrashMidWriteLeavesOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	mustWriteFile(t, path, "old")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitForPartialTemp(t, dir)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	wantFile(t, path, "old")
}

// waitForPartialTemp waits until the helper has written into its temporary file.
func waitForPartialTemp(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		matches, _ := filepath.Glob(filepath.Join(dir, ".state.tmp-*"))
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.Size() > 0 {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the helper process never started its write")
}

func mustWriteFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func wantFile(t *testing.T, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s = %q, want %q", path, got, want)
	}
}

func wantOnlyFile(t *testing.T, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != name {
		t.Fatalf("%s holds %v, want only %s", dir, entries, name)
	}
}
