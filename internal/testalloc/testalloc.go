// Package testalloc measures what one input makes a decoder allocate, for
// the tests and fuzz targets that hold every decoder to a bound (issue 10:
// no input may make a decoder allocate what it merely claims).
package testalloc

import (
	"runtime"
	"testing"
)

// FuzzMax is the most one fuzz input may allocate.
const FuzzMax = 64 << 20

// Check fails t if fn allocates more than limit bytes. Every goroutine's
// allocations count (runtime.MemStats.TotalAlloc): run it alone — no
// t.Parallel, and fuzz with -parallel 1.
func Check(t testing.TB, limit uint64, fn func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > limit {
		t.Fatalf("one input allocated %d bytes, limit %d", grew, limit)
	}
}
