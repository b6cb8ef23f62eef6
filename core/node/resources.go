package node

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// hostResources is what this machine offers to tasks: its CPUs and memory.
func hostResources() *shoalv1.Resources {
	return &shoalv1.Resources{NanoCpus: int64(runtime.NumCPU()) * 1e9, MemoryBytes: memTotal()}
}

// memTotal reads MemTotal from /proc/meminfo (0 when unknown).
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0
		}
		return kb * 1024
	}
	return 0
}
