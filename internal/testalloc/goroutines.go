package testalloc

import (
	"runtime"
	"runtime/metrics"
)

// Goroutines returns how many goroutines fn starts: 0 if one of three
// calls (after a first, which may start the runtime's own first-use
// goroutines) started none, since another goroutine of the process may
// start meanwhile; else the count of the last. core/ must start none.
func Goroutines(fn func()) uint64 {
	created := func() uint64 {
		s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	fn()
	var started uint64
	for range 3 {
		runtime.GC()
		before := created()
		fn()
		if started = created() - before; started == 0 {
			return 0
		}
	}
	return started
}
