package plugins

import "syscall"

// sandboxProcAttr makes the kernel kill the sandbox if the manager dies.
func sandboxProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
