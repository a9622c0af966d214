package gossip

import (
	"crypto/ed25519"
	"errors"
	"io"
	"log"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/roles"
)

// impostor is a bare memberlist node of mesh that advertises meta under
// name, as a node not running this package could.
type impostor struct{ meta []byte }

func (i impostor) NodeMeta(int) []byte           { return i.meta }
func (impostor) NotifyMsg([]byte)                {}
func (impostor) GetBroadcasts(int, int) [][]byte { return nil }
func (impostor) LocalState(bool) []byte          { return nil }
func (impostor) MergeRemoteState([]byte, bool)   {}

func startImpostor(t *testing.T, mesh, name string, meta []byte) *memberlist.Memberlist {
	t.Helper()
	c := memberlist.DefaultLocalConfig()
	c.Name, c.BindAddr, c.BindPort, c.AdvertisePort = name, "127.0.0.1", 0, 0
	c.Label = meshLabelPrefix + mesh
	c.Delegate = impostor{meta}
	c.ProbeInterval, c.GossipInterval, c.PushPullInterval = FastTiming().ProbeInterval, FastTiming().GossipInterval, FastTiming().PushPullInterval
	c.Logger = log.New(io.Discard, "", 0)
	ml, err := memberlist.Create(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ml.Shutdown() })
	return ml
}

// TestImpostorsRefused: nodes whose name is not the hex of their state's
// key (another node's key, or no key at all), whose state's signature does
// not verify, or whose meta is not a state, are refused by reason and
// never appear, while an honest node that joins afterwards does.
func TestImpostorsRefused(t *testing.T) {
	target := startNode(t, "impostors")
	thief := newKey(t)
	victim := newKey(t)
	signed, err := membership.Sign(thief, membership.State{Node: roles.NodeID(thief.Public().(ed25519.PublicKey)), GossipAddr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	meta := membership.AppendSignedState(nil, signed)
	forged := append([]byte(nil), meta...)
	forged[len(forged)-1] ^= 1
	victimID := roles.NodeID(victim.Public().(ed25519.PublicKey))
	cases := []struct {
		name  string
		meta  []byte
		count func(Counters) uint64
	}{
		{victimID.String(), meta, func(c Counters) uint64 { return c.RefusedName }},       // the thief's state under the victim's name
		{"not-a-key", meta, func(c Counters) uint64 { return c.RefusedName }},             // a name that is no key
		{signed.State.Node.String(), forged, func(c Counters) uint64 { return c.Forged }}, // its own name, a bad signature
		{signed.State.Node.String() + "x", []byte("junk"), func(c Counters) uint64 { return c.Corrupt }},
	}
	for _, tc := range cases {
		before := tc.count(target.Counters())
		ml := startImpostor(t, "impostors", tc.name, tc.meta)
		_, _ = ml.Join([]string{target.Addr()}) // may "succeed": the target answers before it refuses
		waitFor(t, "refused "+tc.name[:min(12, len(tc.name))], func() bool { return tc.count(target.Counters()) > before })
	}
	// A barrier: an honest node joins after every impostor tried, and is taken.
	honest := startNode(t, "impostors", target.Addr())
	waitFor(t, "the honest node in", func() bool { return converged([]*node{target, honest}) })
	for _, n := range []*node{target, honest} {
		for _, m := range n.Members() {
			if m.State.Node != target.ID() && m.State.Node != honest.ID() {
				t.Errorf("%s holds %s", n.ID().Short(), m.State.Node.Short())
			}
		}
		for _, c := range n.changes() {
			if c.Node != target.ID() && c.Node != honest.ID() {
				t.Errorf("%s reported %+v", n.ID().Short(), c)
			}
		}
	}
	if c := target.Counters(); c.Refused() == 0 || c.RefusedName < 2 {
		t.Errorf("counters %+v", c)
	}
}

// TestConfigErrors: a Config that cannot start is a typed error, and
// nothing is left listening.
func TestConfigErrors(t *testing.T) {
	key := newKey(t)
	ok := Config{Key: key, Bind: "127.0.0.1:0", Mesh: "m", Timing: FastTiming()}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want error
	}{
		{"no key", func(c *Config) { c.Key = nil }, ErrConfig},
		{"short key", func(c *Config) { c.Key = key[:10] }, ErrConfig},
		{"no mesh", func(c *Config) { c.Mesh = "" }, ErrConfig},
		{"long mesh", func(c *Config) { c.Mesh = strings.Repeat("m", 250) }, ErrConfig},
		{"bind by name", func(c *Config) { c.Bind = "localhost:0" }, ErrConfig},
		{"bind without port", func(c *Config) { c.Bind = "127.0.0.1" }, ErrConfig},
		{"bind port out of range", func(c *Config) { c.Bind = "127.0.0.1:70000" }, ErrConfig},
		{"advertise garbage", func(c *Config) { c.Advertise = "x" }, ErrConfig},
		{"seed without port", func(c *Config) { c.Seeds = []string{"127.0.0.1:1", "localhost"} }, ErrConfig},
		{"seed with empty port", func(c *Config) { c.Seeds = []string{"localhost:"} }, ErrConfig},
		{"negative timing", func(c *Config) { c.Timing.ProbeInterval = -1 }, ErrConfig},
		{"probe timeout over interval", func(c *Config) { c.Timing.ProbeTimeout = time.Hour }, ErrConfig},
		{"negative bound", func(c *Config) { c.PeersMax = -1 }, ErrConfig},
		{"state of another node", func(c *Config) { c.Self.Node = roles.NodeID{1} }, membership.ErrInvalidState},
		{"string too long", func(c *Config) { c.Self.RaftAddr = strings.Repeat("r", 256) }, membership.ErrInvalidState},
		{"state over the meta limit", func(c *Config) {
			c.Self.RaftAddr, c.Self.SoftwareVersion = strings.Repeat("r", 200), strings.Repeat("v", 200)
		}, ErrStateTooLarge},
	} {
		cfg := ok
		tc.edit(&cfg)
		g, err := New(cfg)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if g != nil {
			_ = g.Close()
		}
	}
	// The refused configs above released their ports: a fixed one binds.
	g, err := New(ok)
	if err != nil {
		t.Fatal(err)
	}
	addr := g.Addr()
	_ = g.Close()
	fixed := ok
	fixed.Bind = addr
	fixed.Self.RaftAddr, fixed.Self.SoftwareVersion = strings.Repeat("r", 200), strings.Repeat("v", 200)
	if _, err := New(fixed); !errors.Is(err, ErrStateTooLarge) {
		t.Fatalf("oversized state: %v", err)
	}
	fixed.Self = membership.State{}
	g, err = New(fixed)
	if err != nil {
		t.Fatalf("binding %s after a refused New on it: %v", addr, err)
	}
	_ = g.Close()
}

// TestIntents: leave intents that are truncated, tampered with, or of an
// unknown kind are counted and change nothing.
func TestIntents(t *testing.T) {
	n := startNode(t, "intents")
	key := newKey(t)
	st := membership.Stamp{Node: roles.NodeID(key.Public().(ed25519.PublicKey)), Incarnation: 3, Version: 4}
	good := appendIntent(nil, key, st)
	if got, ok := decodeIntent(good); !ok || got != st {
		t.Fatalf("decode(encode(%+v)) = %+v, %v", st, got, ok)
	}
	bad := [][]byte{nil, good[:len(good)-1], append(append([]byte(nil), good...), 0)}
	for i := range good {
		b := append([]byte(nil), good...)
		b[i] ^= 0x40
		bad = append(bad, b)
	}
	for _, b := range bad {
		if _, ok := decodeIntent(b); ok {
			t.Errorf("decoded %x", b)
		}
		n.takeIntent(b)
	}
	if c := n.Counters(); c.BadIntents != uint64(len(bad)) || c.Leaves != 0 {
		t.Errorf("counters %+v, want %d bad intents", c, len(bad))
	}
	n.takeIntent(good) // of a node not in the view
	if c := n.Counters(); c.Leaves != 0 {
		t.Errorf("an intent of a stranger taken: %+v", c)
	}
}
