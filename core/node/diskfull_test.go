package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/testenv"
)

// A manager whose Raft log cannot be written (its disk is full) stops its
// node with ErrManagerFailed instead of running on unable to serve.
func TestFullDiskStopsTheManagerNode(t *testing.T) {
	testenv.Root(t, "a small tmpfs for the data dir")
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=32m", "shl-diskfull", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	n, err := Init(context.Background(), Config{DataDir: filepath.Join(dir, "m0"), ListenAddr: freeAddr(t), Hostname: "m0", Backend: "sim", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	fillDisk(t, filepath.Join(dir, "filler"))
	// Writes until one needs room: bbolt has some free pages first.
	done := make(chan error, 1)
	go func() { done <- n.Wait() }()
	big := strings.Repeat("x", 256<<10)
	go func() {
		for i := 0; ; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := n.Manager().Store().Update(ctx, func(tx store.Tx) error {
				return tx.Create(&shoalv1.Network{Id: fmt.Sprintf("n%d", i), Spec: &shoalv1.NetworkSpec{Name: fmt.Sprintf("n%d", i), Labels: map[string]string{"fill": big}}})
			})
			cancel()
			if err != nil {
				return
			}
		}
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrManagerFailed) {
			t.Fatalf("node stopped with %v; want ErrManagerFailed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the node still runs 30s after its manager's Raft log failed")
	}
}

// fillDisk writes path until its file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}
