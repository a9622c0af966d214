package sim

// GCPercent is the garbage collector's target (GOGC) at which the revoada
// command runs simulations, unless GOGC is set in the environment. A run
// allocates fast (messages decoded from their bytes, snapshots, trace
// lines) over a small live heap, so at Go's default of 100 the collector
// runs often: at 400 'revoada explore --seeds 1..25' spends 12–17% less
// CPU and 'revoada sim --scenario heal-chaos-target --seeds 1..10' 6–13%
// less (GOMAXPROCS=1), for more resident memory (65 → 110 MB and 77 →
// 150 MB there, 160 → 320–370 MB for gossip-100). This package's
// benchmarks keep Go's default: in BenchmarkMeshSize and
// BenchmarkTenMinutes the setting measured no gain. Run itself never sets
// it.
const GCPercent = 400

// GCMemoryLimit is the soft memory limit (GOMEMLIMIT) set with GCPercent,
// unless GOMEMLIMIT is set: it caps the heap GCPercent lets grow to five
// times the live heap, and never makes the collector run more often than
// Go's default would below a live heap of half the limit.
const GCMemoryLimit = 1 << 30
