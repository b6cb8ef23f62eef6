package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/core/secrets"
)

func TestSecretDataComesFromAFileOrStdinCutPastTheLimit(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("from-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	huge := bytes.Repeat([]byte{'x'}, secrets.MaxSize+100)
	cases := []struct {
		name, arg string
		stdin     []byte
		wantLen   int
		wantStart string
	}{
		{"file", file, nil, len("from-file"), "from-file"},
		{"stdin", "-", []byte("from-stdin"), len("from-stdin"), "from-stdin"},
		{"too large: one byte past the limit, for the manager to refuse", "-", huge, secrets.MaxSize + 1, "xxx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readFileArg(bytes.NewReader(tc.stdin), tc.arg)
			if err != nil || len(got) != tc.wantLen || !strings.HasPrefix(string(got), tc.wantStart) {
				t.Fatalf("read %d bytes %.12q, %v; want %d starting %q", len(got), got, err, tc.wantLen, tc.wantStart)
			}
		})
	}
	if _, err := readFileArg(nil, filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("a missing file read without error")
	}
}
