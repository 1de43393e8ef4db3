//go:build !linux

package turnserver

import "syscall"

// killWithParent: only Linux can have the kernel kill a child with its
// parent; elsewhere a test binary that dies leaves turnserver running.
func killWithParent() *syscall.SysProcAttr { return nil }
