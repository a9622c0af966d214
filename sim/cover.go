package sim

import (
	"slices"

	"revoada.dev/revoada/core/cover"
)

// The rare paths the simulator declares, besides the core's (package cover).
const (
	CoverPromoteInPartition cover.Point = "promotion committed while the mesh is partitioned"
	CoverLeaderCrashed      cover.Point = "leader crashed"
	CoverWatchCompacted     cover.Point = "watch resumed from compacted history"
	CoverClientTimeout      cover.Point = "client operation timed out"
	CoverHeldForPaused      cover.Point = "message held for a paused node"
	CoverPolicyShift        cover.Point = "policy shift committed"
	CoverTornTail           cover.Point = "torn write cut from a log at restart"
	CoverDiskStopped        cover.Point = "node stopped by a failed write"
	CoverDiskRetried        cover.Point = "node start retried after a disk error"
	CoverDiskRefused        cover.Point = "corrupt log refused at start"
	CoverSnapshotFailed     cover.Point = "snapshot send failed, reported to raft"
	CoverStateRefused       cover.Point = "a node refused its own state at start: its role history does not verify"
)

// CoveragePoints is every declared point: the core's, then the simulator's.
func CoveragePoints() []cover.Point {
	return slices.Concat(cover.Core(), []cover.Point{
		CoverPromoteInPartition, CoverLeaderCrashed, CoverWatchCompacted, CoverClientTimeout, CoverHeldForPaused, CoverPolicyShift,
		CoverTornTail, CoverDiskStopped, CoverDiskRetried, CoverDiskRefused, CoverSnapshotFailed, CoverStateRefused,
	})
}

// nodeCoverage folds a node incarnation's counts into the run's, once,
// when it crashes or the run ends.
func (s *simulator) nodeCoverage(sn *simNode) {
	if sn.n != nil {
		s.cover.Add(sn.n.Coverage())
		s.nodeContent(sn)
	}
}
