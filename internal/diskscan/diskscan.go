// Package diskscan finds which files under a directory hold some bytes:
// tests use it to show a secret's plaintext is not on a node's disk.
package diskscan

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
)

// Containing returns the regular files under dir whose content holds
// marker. Directories skip says true for are not entered (e.g. tmpfs
// mounts); files removed during the walk are passed over.
func Containing(dir string, marker []byte, skip func(dir string) bool) ([]string, error) {
	var hits []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case d.IsDir() && skip != nil && skip(p):
			return filepath.SkipDir
		case !d.Type().IsRegular():
			return nil
		}
		if data, err := os.ReadFile(p); err == nil && bytes.Contains(data, marker) {
			hits = append(hits, p)
		}
		return nil
	})
	return hits, err
}
