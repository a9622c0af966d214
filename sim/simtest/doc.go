// Package simtest turns a scenario into a property test and a fuzz target
// for your own go test: it throws generated fault plans at a base sim.Plan
// and fails on any violation the simulator's checks report, or on two runs
// of one plan and seed that do not replay the same.
//
//	func TestMyScenario(t *testing.T) { simtest.Check(t, myPlan, simtest.Runs(50)) }
//	func FuzzMyScenario(f *testing.F) { simtest.Fuzz(f, myPlan) }
//
// Check runs rapid (pgregory.net/rapid) over Faults(base): each drawn plan
// is simulated with a drawn seed, and a failure is shrunk to a small fault
// plan and seed, printed as a scenario file with the command that replays
// it, and saved by rapid as a fail file under testdata/rapid that later
// runs replay first. Fuzz does the same for inputs from go test -fuzz
// (PlanFromBytes); under plain go test it runs its seed corpus:
//
//	go test ./mypkg -run '^$' -fuzz FuzzMyScenario -fuzztime 30s
//
// Generated faults are all undone well before the end of the run, so a
// correct mesh passes the liveness checks as well as the safety ones; the
// base plan's own expectations (converge, commands_complete, progress) are
// judged too, and a base that expects to converge within seconds of a
// command may not under faults. Give Check a base whose expectations should
// hold whatever the network does, or none.
//
// # Determinism
//
// A run is a function of the plan, the seed and the build. Check and Fuzz
// simulate each plan twice and fail with "determinism bug: ..." when the two
// runs leave different fingerprints or verdicts. rapid checks it too: it
// reruns a failing case before shrinking it, and when the rerun does not fail
// the same way it reports "[rapid] flaky test, can not reproduce a failure".
// Under simtest that verdict means the same thing, a determinism bug (map
// order, wall time, a goroutine or global randomness reaching the run), not
// an unlucky test: Check's failure messages hold nothing that varies between
// runs of one plan and seed.
//
// Check and Fuzz are as safe for concurrent use as sim.Run, which takes a
// process-wide lock: parallel tests run their simulations one at a time.
package simtest
