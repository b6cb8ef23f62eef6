//go:build !linux

package plugins

import "syscall"

// sandboxProcAttr: elsewhere the sandbox exits when its request pipe closes.
func sandboxProcAttr() *syscall.SysProcAttr { return nil }
