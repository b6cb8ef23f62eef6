package diskscan

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestContainingFindsTheMarkerOutsideSkippedDirs(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"a/hit": "x-MARK-y", "a/miss": "nothing", "skipped/hit": "MARK", "top": "MARK"}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Containing(dir, []byte("MARK"), func(p string) bool { return filepath.Base(p) == "skipped" })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a/hit"), filepath.Join(dir, "top")}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("Containing = %v, want %v", got, want)
	}
}
