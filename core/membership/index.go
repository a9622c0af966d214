package membership

import (
	"encoding/binary"

	"revoada.dev/revoada/core/roles"
)

// peerIndex finds a peer by its NodeID. Every message looks up its sender
// and its recipients' peers, so the lookup is keyed by the ID's first eight
// bytes (a uint64: no 32-byte hash or compare) and checked against the whole
// ID. NodeIDs are public keys, so two sharing a prefix are rare but not
// impossible (nor out of an attacker's reach): the later one goes to clash,
// an ordinary map, read only while it holds someone.
//
// An entry holds the whole ID beside the peer, so the check reads the map's
// own slot: the peer, a few hundred bytes, is at a cache miss of its own in a
// large mesh (at 100 nodes the check through the peer was 13% of the
// simulator's time).
type peerIndex struct {
	byPrefix map[uint64]indexed
	clash    map[roles.NodeID]*peer
}

type indexed struct {
	id roles.NodeID
	p  *peer
}

func newPeerIndex() peerIndex { return peerIndex{byPrefix: map[uint64]indexed{}} }

func idPrefix(id roles.NodeID) uint64 { return binary.LittleEndian.Uint64(id[:8]) }

func (x *peerIndex) len() int { return len(x.byPrefix) + len(x.clash) }

// get is id's peer, nil if none.
func (x *peerIndex) get(id roles.NodeID) *peer {
	if e := x.byPrefix[idPrefix(id)]; e.p != nil && e.id == id {
		return e.p
	}
	if len(x.clash) == 0 {
		return nil
	}
	return x.clash[id]
}

// put adds p, whose node the index does not hold.
func (x *peerIndex) put(p *peer) {
	id := p.node()
	k := idPrefix(id)
	if x.byPrefix[k].p == nil {
		x.byPrefix[k] = indexed{id, p}
		return
	}
	if x.clash == nil {
		x.clash = map[roles.NodeID]*peer{}
	}
	x.clash[id] = p
}

// del removes id's peer, if held. A clashing peer of the same prefix takes
// its place (the first in NodeID order, so the index's shape is the same
// whatever the map's iteration order).
func (x *peerIndex) del(id roles.NodeID) {
	if _, ok := x.clash[id]; ok {
		delete(x.clash, id)
		return
	}
	k := idPrefix(id)
	if e := x.byPrefix[k]; e.p == nil || e.id != id {
		return
	}
	delete(x.byPrefix, k)
	var next *peer
	for cid, p := range x.clash {
		if idPrefix(cid) == k && (next == nil || cid.Compare(next.node()) < 0) {
			next = p
		}
	}
	if next != nil {
		delete(x.clash, next.node())
		x.byPrefix[k] = indexed{next.node(), next}
	}
}
