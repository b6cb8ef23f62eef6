package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-project/shoal/internal/testenv"
)

func TestBuildIsDeterministicAndWellFormed(t *testing.T) {
	if _, err := os.Stat("/bin/busybox"); err != nil {
		testenv.Missing(t, "needs /bin/busybox (apt-get install busybox-static)")
	}
	a, b := t.TempDir(), t.TempDir()
	for _, d := range []string{a, b} {
		if err := build(d, "/bin/busybox", "latest"); err != nil {
			t.Fatal(err)
		}
	}
	ia, _ := os.ReadFile(filepath.Join(a, "index.json"))
	ib, _ := os.ReadFile(filepath.Join(b, "index.json"))
	if !bytes.Equal(ia, ib) {
		t.Fatalf("index.json differs between builds:\n%s\n%s", ia, ib)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(ia, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Annotations[ocispec.AnnotationRefName] != "latest" {
		t.Fatalf("index manifests = %+v", idx.Manifests)
	}
	m := idx.Manifests[0]
	data, err := os.ReadFile(filepath.Join(a, "blobs", "sha256", m.Digest.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	var man ocispec.Manifest
	if err := json.Unmarshal(data, &man); err != nil {
		t.Fatal(err)
	}
	if len(man.Layers) != 1 {
		t.Fatalf("layers = %d, want 1", len(man.Layers))
	}
	cfgData, err := os.ReadFile(filepath.Join(a, "blobs", "sha256", man.Config.Digest.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(cfgData, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Config.Cmd) != 1 || cfg.Config.Cmd[0] != "sh" {
		t.Fatalf("cmd = %v", cfg.Config.Cmd)
	}
}
