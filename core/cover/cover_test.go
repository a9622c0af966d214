package cover

import (
	"slices"
	"testing"
)

func TestCountsAndMissing(t *testing.T) {
	c := Counts{}
	c.Sometimes(SnapshotInstalled)
	c.Sometimes(SnapshotInstalled)
	var none Counts
	none.Sometimes(LeaderInJoint) // a nil Counts ignores it
	c.Add(Counts{JointEntered: 3})
	if c[SnapshotInstalled] != 2 || c[JointEntered] != 3 || len(none) != 0 {
		t.Fatalf("counts %v", c)
	}
	missing := c.Missing(Core())
	if slices.Contains(missing, SnapshotInstalled) || !slices.Contains(missing, LeaderInJoint) || len(missing) != len(Core())-2 {
		t.Errorf("missing %v", missing)
	}
}
