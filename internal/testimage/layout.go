package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	_ "crypto/sha256" // registers sha256 for go-digest
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// epoch is the fixed modification time of every file in the layer, so builds are reproducible.
var epoch = time.Unix(0, 0).UTC()

// fallbackApplets is used when the binary cannot list its applets.
var fallbackApplets = []string{
	"cat", "chmod", "cp", "date", "dd", "echo", "env", "false", "grep", "head", "hostname",
	"httpd", "id", "ip", "kill", "ls", "mkdir", "mount", "nc", "ps", "pwd", "rm", "sh",
	"sleep", "tail", "tee", "test", "touch", "tr", "true", "uname", "wc", "wget", "whoami",
}

// applets asks busybox for its applet names; a list is sorted and de-duplicated.
func applets(busybox string) []string {
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		return fallbackApplets
	}
	seen := map[string]bool{}
	var names []string
	for _, n := range strings.Fields(string(out)) {
		if n == "busybox" || strings.Contains(n, "/") || seen[n] {
			continue
		}
		seen[n] = true
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// layer returns the uncompressed tar of the image's only layer.
func layer(busybox []byte, names []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: epoch, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"bin", "dev", "etc", "proc", "sys", "root", "var", "var/www", "www"} {
		if err := dir(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := dir("tmp", 0o1777); err != nil {
		return nil, err
	}
	if err := file("bin/busybox", 0o755, busybox); err != nil {
		return nil, err
	}
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + n, Linkname: "busybox", Mode: 0o777, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	passwd := "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	group := "root:x:0:\nnogroup:x:65534:\n"
	if err := file("etc/passwd", 0o644, []byte(passwd)); err != nil {
		return nil, err
	}
	if err := file("etc/group", 0o644, []byte(group)); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func gz(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf) // header carries no name and a zero mtime: deterministic
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writer puts blobs into an OCI layout directory.
type writer struct{ root string }

func (w writer) blob(mediaType string, data []byte) (ocispec.Descriptor, error) {
	d := digest.FromBytes(data)
	p := filepath.Join(w.root, "blobs", d.Algorithm().String(), d.Encoded())
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}, nil
}

func (w writer) jsonBlob(mediaType string, v any) (ocispec.Descriptor, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return w.blob(mediaType, data)
}

// build writes the OCI layout for busyboxPath into out, tagged tag.
func build(out, busyboxPath, tag string) error {
	bin, err := os.ReadFile(busyboxPath)
	if err != nil {
		return fmt.Errorf("read busybox (apt-get install busybox-static): %w", err)
	}
	if !bytes.HasPrefix(bin, []byte("\x7fELF")) {
		return errors.New(busyboxPath + " is not an ELF binary")
	}
	tarData, err := layer(bin, applets(busyboxPath))
	if err != nil {
		return fmt.Errorf("build layer: %w", err)
	}
	gzData, err := gz(tarData)
	if err != nil {
		return fmt.Errorf("compress layer: %w", err)
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	w := writer{root: out}
	layerDesc, err := w.blob(ocispec.MediaTypeImageLayerGzip, gzData)
	if err != nil {
		return err
	}
	created := epoch
	cfg := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		Config: ocispec.ImageConfig{
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cmd:        []string{"sh"},
			WorkingDir: "/",
		},
		RootFS:  ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(tarData)}},
		History: []ocispec.History{{Created: &created, CreatedBy: "shoal internal/testimage: busybox-static"}},
	}
	cfgDesc, err := w.jsonBlob(ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		return err
	}
	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfgDesc,
		Layers:    []ocispec.Descriptor{layerDesc},
	}
	manDesc, err := w.jsonBlob(ocispec.MediaTypeImageManifest, manifest)
	if err != nil {
		return err
	}
	manDesc.Platform = &ocispec.Platform{Architecture: "amd64", OS: "linux"}
	manDesc.Annotations = map[string]string{ocispec.AnnotationRefName: tag}
	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{manDesc},
	}
	indexData, err := json.Marshal(index)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, ocispec.ImageIndexFile), indexData, 0o644); err != nil {
		return err
	}
	layoutData, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, ocispec.ImageLayoutFile), layoutData, 0o644)
}
