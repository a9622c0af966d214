package wire_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/content"
	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
)

// Generators of every kind of message, in the forms the decoders give
// back: empty lists and payloads are nil.

var genNodeID = rapid.Custom(func(t *rapid.T) roles.NodeID {
	var id roles.NodeID
	copy(id[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "id"))
	return id
})

// raftTypes are the raft message types that travel between nodes.
var raftTypes = []pb.MessageType{pb.MsgProp, pb.MsgApp, pb.MsgAppResp, pb.MsgVote, pb.MsgVoteResp, pb.MsgSnap,
	pb.MsgHeartbeat, pb.MsgHeartbeatResp, pb.MsgTransferLeader, pb.MsgTimeoutNow, pb.MsgReadIndex,
	pb.MsgReadIndexResp, pb.MsgPreVote, pb.MsgPreVoteResp, pb.MsgForgetLeader}

func maybe[T any](t *rapid.T, label string, g *rapid.Generator[T]) *T {
	if !rapid.Bool().Draw(t, label+"?") {
		return nil
	}
	v := g.Draw(t, label)
	return &v
}

func bytesN(t *rapid.T, label string, most int) []byte {
	b := rapid.SliceOfN(rapid.Byte(), 0, most).Draw(t, label)
	if len(b) == 0 {
		return nil
	}
	return b
}

func genRaft(t *rapid.T, from, to roles.NodeID) *pb.Message {
	m := &pb.Message{
		Type: new(rapid.SampledFrom(raftTypes).Draw(t, "type")),
		From: new(from.RaftID()), To: new(to.RaftID()),
		Term: maybe(t, "term", rapid.Uint64()), LogTerm: maybe(t, "logTerm", rapid.Uint64()),
		Index: maybe(t, "index", rapid.Uint64()), Commit: maybe(t, "commit", rapid.Uint64()),
		Vote: maybe(t, "vote", rapid.Uint64()), Reject: maybe(t, "reject", rapid.Bool()),
		RejectHint: maybe(t, "hint", rapid.Uint64()), Context: bytesN(t, "context", 48),
	}
	for range rapid.IntRange(0, 4).Draw(t, "entries") {
		m.Entries = append(m.Entries, &pb.Entry{
			Term: maybe(t, "eterm", rapid.Uint64()), Index: maybe(t, "eindex", rapid.Uint64()),
			Type: maybe(t, "etype", rapid.SampledFrom([]pb.EntryType{pb.EntryNormal, pb.EntryConfChange, pb.EntryConfChangeV2})),
			Data: bytesN(t, "data", 1500),
		})
	}
	if rapid.Bool().Draw(t, "snapshot") {
		ids := rapid.SliceOfN(rapid.Uint64(), 0, 5)
		m.Snapshot = &pb.Snapshot{Data: bytesN(t, "sdata", 4096), Metadata: &pb.SnapshotMetadata{
			ConfState: &pb.ConfState{Voters: ids.Draw(t, "voters"), Learners: ids.Draw(t, "learners"),
				VotersOutgoing: ids.Draw(t, "outgoing"), LearnersNext: ids.Draw(t, "next"), AutoLeave: maybe(t, "auto", rapid.Bool())},
			Index: maybe(t, "sindex", rapid.Uint64()), Term: maybe(t, "sterm", rapid.Uint64()),
		}}
	}
	return m
}

var genName = rapid.StringN(0, 12, store.NameBytesMax)

var genRef = rapid.Custom(func(t *rapid.T) store.Ref {
	return store.Ref{Kind: genName.Draw(t, "kind"), Namespace: genName.Draw(t, "ns"), Name: genName.Draw(t, "name")}
})

var genResource = rapid.Custom(func(t *rapid.T) store.Resource {
	return store.Resource{
		Ref: genRef.Draw(t, "ref"), Face: genName.Draw(t, "face"), Format: store.Format(rapid.Uint8().Draw(t, "format")),
		CreateRevision: store.Revision(rapid.Uint64().Draw(t, "create")), ModRevision: store.Revision(rapid.Uint64().Draw(t, "mod")),
		Version: rapid.Int64().Draw(t, "version"), Payload: bytesN(t, "payload", 2048),
	}
})

var genRequestID = rapid.Custom(func(t *rapid.T) node.RequestID {
	return node.RequestID{Origin: genNodeID.Draw(t, "origin"), Incarnation: rapid.Uint64().Draw(t, "inc"), Seq: rapid.Uint64().Draw(t, "seq")}
})

func genRequest(t *rapid.T) *node.Request {
	r := &node.Request{ID: genRequestID.Draw(t, "id")}
	if rapid.Bool().Draw(t, "fenced") {
		r.Fence = &node.Fence{Term: rapid.Uint64().Draw(t, "fterm")}
		copy(r.Fence.Basis[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "basis"))
	}
	switch rapid.IntRange(0, 3).Draw(t, "body") {
	case 0:
		for range rapid.IntRange(1, roles.ShiftCommandsMax).Draw(t, "commands") {
			r.Shift = append(r.Shift, roles.Command{Kind: roles.Kind(rapid.Uint8().Draw(t, "ckind")), Node: genNodeID.Draw(t, "cnode"),
				Roles: roles.Roles(rapid.Uint8().Draw(t, "roles")), Reason: roles.Reason(rapid.Uint8().Draw(t, "reason")),
				Addr: rapid.SampledFrom([]string{"", "", "127.0.0.1:7000", strings.Repeat("a", roles.AddrBytesMax)}).Draw(t, "addr")})
		}
	case 1:
		c := store.Command{Op: rapid.SampledFrom([]store.Op{store.OpApply, store.OpDelete, store.OpRestore}).Draw(t, "op")}
		if rapid.Bool().Draw(t, "expect") {
			c.Expect = store.Expect{Set: true, Revision: store.Revision(rapid.Uint64().Draw(t, "erev"))}
		}
		switch c.Op {
		case store.OpApply:
			c.Resource = genResource.Draw(t, "resource")
		case store.OpDelete:
			c.Ref = genRef.Draw(t, "dref")
		case store.OpRestore:
			c.Snapshot = bytesN(t, "snapshot", 4096)
		}
		r.Write = &c
	case 2:
		r.Read = &node.Read{Op: rapid.SampledFrom([]node.ReadOp{node.ReadGet, node.ReadList}).Draw(t, "readop"),
			Ref: genRef.Draw(t, "rref"), Kind: genName.Draw(t, "rkind"), Namespace: genName.Draw(t, "rns"), Local: rapid.Bool().Draw(t, "local")}
	case 3:
		r.Witness = &node.Witness{Seq: rapid.Uint64().Draw(t, "wseq")}
		r.Witness.Witness.Signer = genNodeID.Draw(t, "signer")
		copy(r.Witness.Witness.Sig[:], rapid.SliceOfN(rapid.Byte(), 64, 64).Draw(t, "sig"))
	}
	return r
}

var sentinels = []error{node.ErrTimeout, node.ErrInvalidRequest, node.ErrFenced, store.ErrNotFound,
	store.ErrConflict, store.ErrInvalid, store.ErrUnsupported, store.ErrCompacted}

var genText = rapid.StringN(0, 40, node.ErrorTextBytesMax)

func genErr(t *rapid.T) error {
	switch rapid.IntRange(0, 6).Draw(t, "err") {
	case 1:
		return rapid.SampledFrom(sentinels).Draw(t, "sentinel")
	case 2:
		return &roles.Rejection{Code: roles.RejectCode(rapid.Uint8().Draw(t, "code")),
			Command: rapid.IntRange(0, roles.ShiftCommandsMax-1).Draw(t, "command"), Detail: genText.Draw(t, "detail")}
	case 3:
		return &store.ConflictError{Ref: genRef.Draw(t, "cref"), Want: store.Revision(rapid.Uint64().Draw(t, "want")),
			Current: store.Revision(rapid.Uint64().Draw(t, "current"))}
	case 4:
		return &store.InvalidError{Field: genText.Draw(t, "field"), Reason: genText.Draw(t, "reason")}
	case 5:
		return errors.New(genText.Draw(t, "text"))
	case 6:
		return errors.Join(errors.New(genText.Draw(t, "wrapper")), rapid.SampledFrom(sentinels).Draw(t, "wrapped"))
	}
	return nil
}

func genResult(t *rapid.T) *node.Result {
	r := &node.Result{ID: genRequestID.Draw(t, "id"), Index: rapid.Uint64().Draw(t, "index"),
		Changed: rapid.Bool().Draw(t, "changed"), Duplicate: rapid.Bool().Draw(t, "duplicate"), Err: genErr(t),
		Revision: store.Revision(rapid.Uint64().Draw(t, "rev")), Behind: rapid.Uint64().Draw(t, "behind")}
	if rapid.Bool().Draw(t, "resource") {
		r.Resource = genResource.Draw(t, "resource")
	}
	for range rapid.IntRange(0, 3).Draw(t, "items") {
		r.Items = append(r.Items, genResource.Draw(t, "item"))
	}
	return r
}

func genGossip(t *rapid.T, from, to roles.NodeID) *membership.Message {
	g := &membership.Message{From: from, To: to, Kind: membership.MsgKind(rapid.IntRange(int(membership.Ping), int(membership.Gossip)).Draw(t, "gkind")),
		Seq: rapid.Uint64().Draw(t, "gseq"), Target: genNodeID.Draw(t, "target"),
		Uptime: rapid.Uint64().Draw(t, "uptime"), Incarnation: rapid.Uint64().Draw(t, "ginc")}
	for range rapid.IntRange(0, 4).Draw(t, "stamps") {
		g.Digest = append(g.Digest, membership.Stamp{Node: genNodeID.Draw(t, "snode"), Incarnation: rapid.Uint64().Draw(t, "sinc"), Version: rapid.Uint64().Draw(t, "sver")})
	}
	str := rapid.StringN(0, 20, membership.StringBytesMax)
	for range rapid.IntRange(0, 3).Draw(t, "states") {
		s := membership.State{Node: genNodeID.Draw(t, "node"), Incarnation: rapid.Uint64().Draw(t, "inc"), Version: rapid.Uint64().Draw(t, "ver"),
			GossipAddr: str.Draw(t, "gaddr"), RaftAddr: str.Draw(t, "raddr"), Roles: roles.Roles(rapid.Uint8().Draw(t, "roles")),
			Capacity:        membership.Capacity{CPUMilli: rapid.Uint64().Draw(t, "cpu"), Pods: rapid.Uint64().Draw(t, "pods")},
			SoftwareVersion: str.Draw(t, "sw"), StateRoot: membership.StateRoot{Index: rapid.Uint64().Draw(t, "root")}}
		copy(s.StateRoot.ShapeHash[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "shape"))
		g.States = append(g.States, membership.SignedState{State: s, Sig: rapid.SliceOfN(rapid.Byte(), 64, 64).Draw(t, "sig")})
	}
	for range rapid.IntRange(0, 3).Draw(t, "suspects") {
		g.Suspects = append(g.Suspects, membership.Suspicion{Node: genNodeID.Draw(t, "snode"), Incarnation: rapid.Uint64().Draw(t, "sinc")})
	}
	return g
}

var genMessage = rapid.Custom(func(t *rapid.T) node.Message {
	m := node.Message{From: genNodeID.Draw(t, "from"), To: genNodeID.Draw(t, "to"),
		Kind: node.MessageKind(rapid.IntRange(int(node.MsgRaft), int(node.MsgContent)).Draw(t, "kind")),
		Hops: uint8(rapid.IntRange(0, node.ForwardHopsMax).Draw(t, "hops"))}
	switch m.Kind {
	case node.MsgRaft:
		m.Raft = genRaft(t, m.From, m.To)
	case node.MsgForward:
		m.Request = genRequest(t)
	case node.MsgResult:
		m.Result = genResult(t)
	case node.MsgGossip:
		m.Gossip = genGossip(t, m.From, m.To)
	case node.MsgShape:
		m.Shape = genShapeNotice(t)
	case node.MsgContent:
		m.Content = genContent(t)
	}
	return m
})

// genContent draws wants, real parts of blobs of up to 40 KiB (Bao slices
// past content.PartMax) and refusals.
func genContent(t *rapid.T) *node.ContentMessage {
	c := &node.ContentMessage{}
	digest := func(label string) content.Digest {
		var d content.Digest
		copy(d[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, label))
		return d
	}
	for range rapid.IntRange(0, 3).Draw(t, "wants") {
		c.Wants = append(c.Wants, content.Want{Digest: digest("wdigest"), Offset: rapid.Uint64().Draw(t, "woffset"),
			Length: uint32(rapid.IntRange(0, content.PartMax).Draw(t, "wlength"))})
	}
	st := content.NewStore()
	for range rapid.IntRange(0, 2).Draw(t, "parts") {
		blob := make([]byte, rapid.IntRange(0, 40<<10).Draw(t, "size"))
		for i := range blob {
			blob[i] = byte(i * 7)
		}
		d, err := st.Put(blob)
		if err != nil {
			t.Fatal(err)
		}
		off := uint64(rapid.IntRange(0, max(0, len(blob)-1)/content.PartMax).Draw(t, "part")) * content.PartMax
		p, ok := st.Part(content.Want{Digest: d, Offset: off})
		if !ok {
			t.Fatalf("no part at %d of a blob of %d bytes", off, len(blob))
		}
		c.Parts = append(c.Parts, p)
	}
	for range rapid.IntRange(0, 3).Draw(t, "lacks") {
		c.Lacks = append(c.Lacks, digest("lack"))
	}
	return c
}

// genShapeNotice draws a valid shape (its first member holds etcd) of up to
// eight distinct nodes.
func genShapeNotice(t *rapid.T) *node.ShapeNotice {
	ids := rapid.SliceOfNDistinct(genNodeID, 1, 8, func(id roles.NodeID) uint64 { return id.RaftID() }).Draw(t, "members")
	members := make([]roles.Member, len(ids))
	for i, id := range ids {
		members[i] = roles.Member{Node: id, Roles: rapid.SampledFrom([]roles.Roles{roles.Worker, roles.ControlPlane, roles.Etcd, roles.Quarantined}).Draw(t, "mroles")}
	}
	members[0].Roles = roles.ControlPlane
	shape, err := roles.NewShape(members)
	if err != nil {
		t.Fatal(err)
	}
	sn := &node.ShapeNotice{Index: rapid.Uint64().Draw(t, "index"), Shape: shape}
	if rapid.Bool().Draw(t, "chain") {
		// A chain's encoding, not its validity, is the wire's business:
		// a genesis block and blocks of arbitrary proposals and witnesses.
		sn.Chain = []attest.Block{{Index: rapid.Uint64().Draw(t, "gindex"), Genesis: shape}}
		for i := range rapid.IntRange(0, 3).Draw(t, "blocks") {
			b := attest.Block{Seq: uint64(i + 1), Index: rapid.Uint64().Draw(t, "bindex"), Term: rapid.Uint64().Draw(t, "bterm")}
			b.Proposal = attest.Proposal{Leader: genNodeID.Draw(t, "leader"), Term: rapid.Uint64().Draw(t, "pterm"), Time: rapid.Int64().Draw(t, "time"),
				Shift: roles.Shift{{Kind: roles.Promote, Node: genNodeID.Draw(t, "pnode"), Reason: roles.ScalingUp}}}
			for _, id := range rapid.SliceOfNDistinct(genNodeID, 0, 3, func(id roles.NodeID) string { return id.String() }).Draw(t, "witnesses") {
				b.Witnesses = append(b.Witnesses, attest.Witness{Signer: id})
			}
			slices.SortFunc(b.Witnesses, func(x, y attest.Witness) int { return x.Signer.Compare(y.Signer) })
			sn.Chain = append(sn.Chain, b)
		}
	}
	return sn
}

// sameMessage reports whether b is what a was: raft parts equal as
// protobuf, errors alike (see sameErr), the rest deeply equal.
func sameMessage(a, b node.Message) bool {
	if !proto.Equal(a.Raft, b.Raft) || (a.Raft == nil) != (b.Raft == nil) {
		return false
	}
	if (a.Result == nil) != (b.Result == nil) || a.Result != nil && !sameErr(a.Result.Err, b.Result.Err) {
		return false
	}
	a.Raft, b.Raft = nil, nil
	if a.Result != nil {
		ra, rb := *a.Result, *b.Result
		ra.Err, rb.Err = nil, nil
		a.Result, b.Result = &ra, &rb
	}
	a.Gossip, b.Gossip = unproven(a.Gossip), unproven(b.Gossip)
	return reflect.DeepEqual(a, b)
}

// unproven returns a copy of g whose states carry no proof: a proof is
// what a node remembers of its own verification, not what was sent.
func unproven(g *membership.Message) *membership.Message {
	if g == nil {
		return nil
	}
	c := *g
	c.States = nil
	for _, s := range g.States {
		c.States = append(c.States, membership.SignedState{State: s.State, Sig: s.Sig})
	}
	return &c
}

// sameErr: the same text, the same sentinels matched, and for the typed
// errors the same value.
func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	for _, s := range sentinels {
		if errors.Is(a, s) != errors.Is(b, s) {
			return false
		}
	}
	switch a.(type) {
	case *roles.Rejection, *store.ConflictError, *store.InvalidError:
		return reflect.DeepEqual(a, b)
	}
	return a.Error() == b.Error() && (!isSentinel(a) || a == b)
}

func isSentinel(err error) bool {
	for _, s := range sentinels {
		if err == s {
			return true
		}
	}
	return false
}
