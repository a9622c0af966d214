package world

import "syscall"

// procAttr has the kernel kill a node when the process that started it
// dies (a 'revoada real' killed itself, or the test binary around it at
// its timeout), so that no node outlives its run. The signal follows the
// thread that forked, and Go ends a thread only when a goroutine locked to
// it exits, which nothing here does.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
