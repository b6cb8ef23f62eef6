// Package memlimit sets a process's soft memory limit (the Go runtime's
// GOMEMLIMIT, debug.SetMemoryLimit) from a flag value: a size, "none", or
// "auto" (the default of shoal's daemon and of bench/scale's managers).
//
// A soft limit makes the garbage collector run more often as the heap
// nears it, so a manager's resident memory follows its live heap instead
// of growing to twice it (GOGC=100) between collections. It is not a cap:
// a live heap above the limit makes the collector run back to back, up to
// the runtime's limit of about half the CPU, so the limit must stay well
// above what the process keeps live.
package memlimit

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Auto and None are the non-size values of a setting.
const (
	Auto = "auto"
	None = "none"
)

// AutoFraction is the share of the memory the process may use (its cgroup's
// memory.max, else the machine's MemTotal) that "auto" sets as the limit.
const AutoFraction = 0.5

// ErrInvalid reports a setting that is not a size, Auto or None.
var ErrInvalid = errors.New("memlimit: want a size (e.g. 900MiB, 2GiB), auto or none")

// Parse returns the limit in bytes a setting names: -1 for None, 0 for Auto
// (resolved by Resolve).
func Parse(s string) (int64, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	switch s {
	case Auto, "":
		return 0, nil
	case None, "off":
		return -1, nil
	}
	units := []struct {
		suffix string
		mult   float64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) || v*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("%w: %q", ErrInvalid, s)
	}
	return int64(v * mult), nil
}

// Resolve turns a parsed setting into the limit to set (math.MaxInt64: no
// limit) and says where it came from. A GOMEMLIMIT in the environment wins
// over Auto (the runtime has applied it already); available is the memory
// the process may use, for Auto (0: unknown, no limit).
func Resolve(parsed int64, env string, available int64) (int64, string) {
	switch {
	case parsed > 0:
		return parsed, "setting"
	case parsed < 0:
		return math.MaxInt64, "none"
	case env != "":
		return debug.SetMemoryLimit(-1), "GOMEMLIMIT"
	case available > 0:
		return int64(float64(available) * AutoFraction), "auto"
	}
	return math.MaxInt64, "auto (memory size unknown)"
}

// Apply parses setting, resolves it against the environment and this
// machine, sets it and returns the limit set and its source.
func Apply(setting string) (int64, string, error) {
	parsed, err := Parse(setting)
	if err != nil {
		return 0, "", err
	}
	limit, src := Resolve(parsed, os.Getenv("GOMEMLIMIT"), Available())
	debug.SetMemoryLimit(limit)
	return limit, src, nil
}

// Available returns the memory this process may use: its cgroup (v2)
// memory.max when set, else MemTotal of /proc/meminfo; 0 if neither is
// known.
func Available() int64 {
	total := MemTotal()
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 && (total == 0 || v < total) {
			return v
		}
	}
	return total
}

// MemTotal returns the machine's memory, MemTotal of /proc/meminfo in
// bytes (0 when unknown).
func MemTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kib, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kib << 10
		}
	}
	return 0
}
