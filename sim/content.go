package sim

import (
	"slices"
	"strconv"
	"time"

	"revoada.dev/revoada/core/content"
	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/roles"
)

// Content sync's properties (core/node/content.go).
const (
	// PropRoots: a state root a raft member publishes holds the shape and
	// role history head the log implies at its index, and every member
	// publishing a root at one index publishes one manifest; a worker
	// installs only a root some member published, whole.
	PropRoots = "roots-agree"
	// PropSynced: after the heal, no live worker goes longer than the
	// plan's Liveness.Synced without installing a root at least as new as
	// one the members published (see Liveness).
	PropSynced = "workers-synced"
	// PoisonSettle is how long after the poison fault ends a worker's
	// newest root must again be one a member published (roots-agree).
	PoisonSettle = 10 * time.Second
)

// rootPub is a root published with a higher index than any before it.
type rootPub struct {
	at    time.Duration
	index uint64
}

// contentCheck follows what the nodes publish and install.
type contentCheck struct {
	manifests map[uint64]content.Digest // index -> the manifest published there
	newest    []rootPub                 // published roots of growing index, in time order
	failed    bool                      // PropSynced failed once: judged no more
	// unserved is the last time every voter of the committed shape was
	// poisoned: no honest node held the state for a worker to fetch.
	unserved time.Duration
}

// observeRoots judges node i's roots after a Ready: a root it published
// or installed since the last look.
func (s *simulator) observeRoots(i int) {
	sn := s.nodes[i]
	pub, syn := sn.n.Roots()
	c := &s.roots
	if pub != sn.published && pub.Index != 0 {
		sn.published = pub
		s.trace.event(s.now, sn.name, "root", rootDetail(pub))
		s.rootPublished(sn.name, pub)
	}
	if latest := sn.n.LatestRoot(); !sn.status.Member && latest > 0 && s.poisonQuiet() {
		if n := len(c.newest); n == 0 || latest > c.newest[n-1].index {
			s.check.fail(s.now, PropRoots, sn.name, "counts its local reads behind root index %d, which no member published (the newest is %d)", latest, c.newestIndex())
		}
	}
	if syn != sn.synced {
		if syn.ManifestHash != sn.synced.ManifestHash {
			s.stats.RootsInstalled++
			s.trace.event(s.now, sn.name, "install", rootDetail(syn))
		}
		sn.synced = syn
		if want, ok := c.manifests[syn.Index]; !ok || want != syn.ManifestHash {
			s.check.fail(s.now, PropRoots, sn.name, "installed root index %d manifest %s, which no member published (%s there)", syn.Index, content.Digest(syn.ManifestHash).Short(), want.Short())
		}
	}
}

func (s *simulator) rootPublished(name string, r membership.StateRoot) {
	c, ck := &s.roots, s.check
	if c.manifests == nil {
		c.manifests = map[uint64]content.Digest{}
	}
	if want, ok := c.manifests[r.Index]; ok && want != r.ManifestHash {
		ck.fail(s.now, PropRoots, name, "published manifest %s at index %d, where another member published %s", content.Digest(r.ManifestHash).Short(), r.Index, want.Short())
	}
	c.manifests[r.Index] = r.ManifestHash
	if want, ok := ck.shapes[r.Index]; ok && want != r.ShapeHash {
		ck.fail(s.now, PropRoots, name, "published a root at index %d with shape %x, the log implies %s", r.Index, r.ShapeHash[:6], want.String()[:12])
	}
	if want, ok := ck.chains[r.Index]; ok && want != r.ChainHead {
		ck.fail(s.now, PropRoots, name, "published a root at index %d with role history head %x, the log implies %s", r.Index, r.ChainHead[:6], want.Short())
	}
	if n := len(c.newest); r.ManifestHash != [32]byte{} && (n == 0 || c.newest[n-1].index < r.Index) { // a root naming no manifest (a store too large for one) is not one to sync
		c.newest = append(c.newest, rootPub{s.now, r.Index})
	}
}

// checkSynced judges PropSynced: a live worker of the committed shape is
// stale from the moment a root newer than the one it installed was
// published (or the heal, or since it has been a worker, whichever is
// later).
func (s *simulator) checkSynced() {
	bound := s.plan.Expect.Liveness.Synced
	c := &s.roots
	if bound == 0 || c.failed || s.now < s.healAt {
		return
	}
	shape := s.check.ref.Shape()
	if s.votersPoisoned(shape.Voters()) {
		// A poisoned worker the policy promoted may be the only voter
		// (explore-214): every part of the state reaching a worker is then
		// spoiled, and no worker can sync until an honest voter serves it.
		c.unserved = s.now
		return
	}
	for _, sn := range s.nodes {
		if _, in := shape.Roles(sn.id); !in || sn.n == nil || sn.paused || sn.status.Member {
			continue
		}
		k := 0
		for k < len(c.newest) && c.newest[k].index <= sn.synced.Index {
			k++
		}
		if k == len(c.newest) {
			continue
		}
		since := max(c.newest[k].at, s.healAt, sn.workerSince, c.unserved)
		if s.now-since > bound {
			c.failed = true
			s.check.fail(s.now, PropSynced, sn.name, "serves root index %d since %v, while index %d was published at %v (more than %v)",
				sn.synced.Index, since, c.newest[len(c.newest)-1].index, c.newest[k].at, bound)
			return
		}
	}
}

// nodeContent folds a node life's content sync counts into the run's.
func (s *simulator) nodeContent(sn *simNode) {
	st := sn.n.SyncStatus()
	if st.ServedBytes > 0 {
		if s.stats.BytesServed == nil {
			s.stats.BytesServed = map[string]uint64{}
		}
		s.stats.BytesServed[sn.name] += st.ServedBytes
	}
	s.stats.PartsRejected += st.Fetch.Corrupt + st.Fetch.Malformed + st.Fetch.TooLarge
	s.stats.RootsRefused += st.RefusedRoots
}

// rootDetail is a root in a trace line: its index and manifest.
func rootDetail(r membership.StateRoot) string {
	return "index " + strconv.FormatUint(r.Index, 10) + " manifest " + content.Digest(r.ManifestHash).Short()
}

func (c *contentCheck) newestIndex() uint64 {
	if n := len(c.newest); n > 0 {
		return c.newest[n-1].index
	}
	return 0
}

// poisonQuiet reports whether no node is poisoned, nor was in the last
// PoisonSettle: a root a poisoned voter boasted may count in a worker's
// newest root until the voter's honest state replaces it in gossip, or the
// worker gives the root up (core/node's StallRoots).
func (s *simulator) poisonQuiet() bool {
	if s.poisoned == nil {
		return true
	}
	return !slices.Contains(s.poisoned, true) && s.now-s.unpoisonedAt > PoisonSettle
}

// votersPoisoned reports whether every one of voters is poisoned.
func (s *simulator) votersPoisoned(voters []roles.NodeID) bool {
	if s.poisoned == nil || len(voters) == 0 {
		return false
	}
	for _, v := range voters {
		if i, ok := s.byID[v]; !ok || !s.poisoned[i] {
			return false
		}
	}
	return true
}
