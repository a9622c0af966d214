package sim

// GCPercent is the garbage collector's target (GOGC) at which the revoada
// command runs simulations, and this package's benchmarks with it, unless
// GOGC is set in the environment. A run allocates fast (messages decoded
// from their bytes, snapshots, trace lines) over a small live heap, so at
// Go's default of 100 the collector runs often: at 400 the explorer spends
// about 15% less CPU per seed (seeds 1..25, GOMAXPROCS=1), for some 30 MB
// more resident memory per process. Run itself never sets it.
const GCPercent = 400
