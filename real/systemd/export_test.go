package systemd

// SetCrashBeforeCommit has every write run f between the manager's change
// and the commit (nil: nothing): a test's stand-in for the process dying
// there, by a panic that skips the rest of the write.
func SetCrashBeforeCommit(f func()) { crashBeforeCommit = f }
