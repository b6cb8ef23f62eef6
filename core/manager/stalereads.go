//go:build !chaosbug

package manager

// staleReads is the chaos suite's planted bug, off in every real build: see
// stalereads_chaosbug.go.
const staleReads = false
