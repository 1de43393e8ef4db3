package turnserver

import "syscall"

// killWithParent has the kernel kill turnserver if the test binary dies
// before its cleanup (a panic, a timeout), so that no server outlives it.
func killWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
