package simtest_test

import (
	"fmt"
	"time"

	"revoada.dev/revoada/sim"
	"revoada.dev/revoada/sim/simtest"
)

// In a _test.go file of your own, Check and Fuzz are one line each:
//
//	func TestMyScenario(t *testing.T) { simtest.Check(t, myPlan, simtest.Runs(50)) }
//	func FuzzMyScenario(f *testing.F) { simtest.Fuzz(f, myPlan) }
//
// PlanFromBytes is what Fuzz does with each input: the same bytes always
// give the same plan and seed.
func ExamplePlanFromBytes() {
	myPlan := &sim.Plan{Name: "three", Nodes: 3, ControlPlane: 3, Duration: time.Minute,
		Network: sim.Network{LatencyMin: time.Millisecond, LatencyMax: 10 * time.Millisecond}}
	p, seed := simtest.PlanFromBytes(myPlan, []byte{2, 0, 0x20, 0x40, 0x10, 1, 0x01, 0x80, 0x00, 0x30, 3, 1, 1, 9, 7, 42, 42, 42, 0, 42})
	fmt.Println("duration", p.Duration, "seed", seed, "valid", p.Validate() == nil)
	for _, f := range p.Faults {
		what := any(f.Target)
		if f.Kind == sim.Partition {
			what = f.Groups
		}
		fmt.Printf("at %v %s %v for %v\n", f.At, f.Kind, what, f.For)
	}
	// Output:
	// duration 1m0s seed 42 valid true
	// at 17.7s partition [[random-voter leader] [n1]] for 4.9s
	// at 18.3s crash random-voter for 1.7s
}
