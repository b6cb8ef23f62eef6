package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-project/shoal/core/node"
	"github.com/shoal-project/shoal/runtime/containerd"
)

func newImageCmd() *cobra.Command {
	c := &cobra.Command{Use: "image", Short: "Manage the images of this node's containerd namespace"}
	c.AddCommand(newImageLoadCmd())
	return c
}

func newImageLoadCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "load [--data-dir DIR] [--containerd-address SOCK] FILE.tar|-",
		Short: "Import an OCI or Docker image archive into this node's containerd namespace",
		Long: "Import an image archive (docker save, skopeo docker-archive: or oci-archive:) into the\n" +
			"containerd namespace of the node whose data dir is --data-dir, so that its tasks can run\n" +
			"the image without pulling it. FILE - reads the archive from standard input.\n" +
			"Prints the names of the imported images.",
		Args: cobra.ExactArgs(1),
	}
	addr := c.Flags().String("containerd-address", "", "containerd socket (default: the node's, recorded at init/join, else /run/containerd/containerd.sock)")
	timeout := c.Flags().Duration("timeout", 10*time.Minute, "give up after this long")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		local, err := node.ReadLocal(gf.dataDir)
		if err != nil {
			return fmt.Errorf("%w (or pass --data-dir)", err)
		}
		nodeID := local.NodeID
		if *addr == "" {
			*addr = cmp.Or(local.ContainerdAddress, node.DefaultContainerdAddress)
		}
		if local.Backend != "" && local.Backend != "containerd" {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: node %s runs the %s backend; the image is only used by the containerd backend\n", nodeID, local.Backend)
		}
		f, err := openArchive(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		ctx, cancel := context.WithTimeout(cmd.Context(), *timeout)
		defer cancel()
		if _, err := os.Stat(*addr); err != nil {
			return fmt.Errorf("containerd is not reachable at %s: %w (set --containerd-address)", *addr, err)
		}
		b, err := containerd.New(ctx, containerd.Config{
			Address:   *addr,
			Namespace: containerd.NodeNamespace(nodeID),
			StateDir:  filepath.Join(gf.dataDir, "containerd"),
		}, slog.New(slog.DiscardHandler))
		if err != nil {
			return fmt.Errorf("containerd is not reachable at %s: %w", *addr, err)
		}
		defer b.Close()
		names, err := b.ImportArchive(ctx, f)
		if err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		for _, n := range names {
			fmt.Fprintln(cmd.OutOrStdout(), n)
		}
		return nil
	}
	return c
}

// archiveFile is the archive being read, with its first tar header already checked.
type archiveFile struct {
	io.Reader
	f *os.File
}

func (a *archiveFile) Close() error { return a.f.Close() }

// openArchive opens path and checks it starts like a tar archive, so that a wrong
// file is refused before containerd is involved.
func openArchive(path string) (*archiveFile, error) {
	f, err := os.Stdin, error(nil)
	if path != "-" {
		f, err = os.Open(path)
	}
	if err != nil {
		return nil, fmt.Errorf("open image archive: %w", err)
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s is a directory, not an image archive (tar it, or use skopeo copy oci:DIR oci-archive:FILE.tar)", path)
	}
	br := bufio.NewReaderSize(f, 1024)
	head, _ := br.Peek(1024)
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		f.Close()
		return nil, fmt.Errorf("%s is gzip-compressed: decompress it first (gunzip), image archives are plain tar", path)
	}
	if _, err := tar.NewReader(bytes.NewReader(head)).Next(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s is not an image archive (want a tar from docker save or skopeo docker-archive:/oci-archive:): %v", path, err)
	}
	return &archiveFile{Reader: br, f: f}, nil
}
