//go:build !linux

package world

import "syscall"

// procAttr: elsewhere than Linux, a node outlives a run that dies.
func procAttr() *syscall.SysProcAttr { return nil }
