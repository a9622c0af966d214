package membership

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"revoada.dev/revoada/core/roles"
)

// Config tunes a Membership. Counts are in ticks; a zero field takes the
// default named on it, a negative one is an error.
type Config struct {
	Self roles.NodeID       // must be Key's public key
	Key  ed25519.PrivateKey // signs this node's State
	Rand *rand.Rand         // every random choice; required

	GossipIntervalTicks int     // one protocol round: a probe and Fanout push-pulls (2)
	Fanout              int     // push-pull partners per round (3)
	PhiThreshold        float64 // φ above it starts a confirming probe; a failed one makes the peer Suspect (8)
	SuspectGraceTicks   int     // a Suspect not refuted within this becomes Dead (20)
	Detector            DetectorConfig
	SeenMax             int // peers remembered, Dead ones included; self not counted (1024)

	ProbeTimeoutTicks     int // wait for a direct Ack before asking others (2); the indirect wait is twice this
	IndirectChecks        int // members asked to probe on our behalf (PingReq) (3)
	StatesPerMessageMax   int // states in one message, newest first (32)
	SuspectsPerMessageMax int // suspicions piggybacked on one message (16)
	ProbesInFlightMax     int // confirming probes at once (32)
	RelaysMax             int // PingReqs being served for others at once (64)
	OutboxMax             int // messages waiting for Ready (1024)
	ChangesMax            int // changes waiting for Ready (4096)
	SeedsMax              int // seeds remembered from Join (16)
	LocalHealthMax        int // cap on the Lifeguard local health multiplier (8)
	PushPullEveryRounds   int // one round in this many makes a full push-pull; the others gossip recent states (10)
	RetransmitMult        int // each state learned is gossiped RetransmitMult·⌈log₁₀(members+1)⌉ times (4)

	// Unsafe plants a bug: tests set it to prove the simulator's checks
	// catch a failure detector that suspects on φ alone, without the
	// confirming probe. Never set it in production.
	Unsafe struct{ NoProbe bool }
}

// DefaultConfig returns the defaults for a node with the given key (Self
// is derived from it), drawing randomness from r.
func DefaultConfig(key ed25519.PrivateKey, r *rand.Rand) Config {
	c := Config{Key: key, Rand: r}
	if len(key) == ed25519.PrivateKeySize {
		copy(c.Self[:], key.Public().(ed25519.PublicKey))
	}
	_ = c.fill() // the defaults are filled in before any check
	return c
}

// ErrConfig is returned by New for a config it cannot run with.
var ErrConfig = errors.New("membership: bad config")

// fill applies the defaults and checks the config.
func (c *Config) fill() error {
	ints := []struct {
		name string
		v    *int
		def  int
	}{
		{"GossipIntervalTicks", &c.GossipIntervalTicks, 2}, {"Fanout", &c.Fanout, 3},
		{"SuspectGraceTicks", &c.SuspectGraceTicks, 20}, {"SeenMax", &c.SeenMax, 1024},
		{"ProbeTimeoutTicks", &c.ProbeTimeoutTicks, 2}, {"IndirectChecks", &c.IndirectChecks, 3},
		{"StatesPerMessageMax", &c.StatesPerMessageMax, 32}, {"SuspectsPerMessageMax", &c.SuspectsPerMessageMax, 16},
		{"ProbesInFlightMax", &c.ProbesInFlightMax, 32}, {"RelaysMax", &c.RelaysMax, 64},
		{"OutboxMax", &c.OutboxMax, 1024}, {"ChangesMax", &c.ChangesMax, 4096},
		{"SeedsMax", &c.SeedsMax, 16}, {"LocalHealthMax", &c.LocalHealthMax, 8},
		{"PushPullEveryRounds", &c.PushPullEveryRounds, 10}, {"RetransmitMult", &c.RetransmitMult, 4},
	}
	for _, f := range ints {
		switch {
		case *f.v < 0:
			return fmt.Errorf("%w: %s %d is negative", ErrConfig, f.name, *f.v)
		case *f.v == 0:
			*f.v = f.def
		}
	}
	switch {
	case math.IsNaN(c.PhiThreshold) || c.PhiThreshold < 0:
		return fmt.Errorf("%w: PhiThreshold %v", ErrConfig, c.PhiThreshold)
	case c.PhiThreshold == 0:
		c.PhiThreshold = 8
	}
	if c.Detector == (DetectorConfig{}) {
		c.Detector = DefaultDetectorConfig()
	}
	switch {
	case len(c.Key) != ed25519.PrivateKeySize:
		return fmt.Errorf("%w: private key of %d bytes", ErrConfig, len(c.Key))
	case !bytes.Equal(c.Key.Public().(ed25519.PublicKey), c.Self[:]):
		return fmt.Errorf("%w: Self %s is not the key's public key", ErrConfig, c.Self.Short())
	case c.Rand == nil:
		return fmt.Errorf("%w: no Rand", ErrConfig)
	}
	return nil
}
