package storage

import (
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync flushes f's data (and the size, when it grew), not its other
// metadata.
func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
