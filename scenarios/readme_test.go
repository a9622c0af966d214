package scenarios_test

import (
	"os"
	"strings"
	"testing"

	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

// TestReadmeExampleRuns: the scenario in the README's "Scenario format"
// section parses, is a valid plan (long enough to judge what it expects),
// and passes a run: the example a newcomer copies works.
func TestReadmeExampleRuns(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "## Scenario format")
	_, block, ok2 := strings.Cut(section, "```yaml\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README.md has no yaml block under \"## Scenario format\"")
	}
	p, err := scenarios.Parse("README.md", []byte(block))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if res := sim.Run(p, 1, sim.Options{}); !res.OK() {
		t.Fatalf("the README's example fails: %v", res.Violations)
	}
}
