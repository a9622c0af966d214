package store

import (
	"encoding/binary"
	"fmt"
)

// Op is the verb of a Command.
type Op uint8

// The ops.
const (
	OpApply   Op = 1
	OpDelete  Op = 2
	OpRestore Op = 3 // replace the whole store with a snapshot
)

func (o Op) String() string {
	switch o {
	case OpApply:
		return "apply"
	case OpDelete:
		return "delete"
	case OpRestore:
		return "restore"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Command is one write as it travels in the Raft log: Exec applies it to
// every replica's Store in log order. Resource is read for OpApply only, Ref
// for OpDelete only, Snapshot (Snapshot's bytes) for OpRestore only.
type Command struct {
	Op       Op
	Resource Resource
	Ref      Ref
	Expect   Expect
	Snapshot []byte
}

// Exec applies c: Apply for OpApply, Delete for OpDelete.
// Errors: those of Apply and Delete; ErrUnsupported for any other Op.
func (s *Store) Exec(c Command) (Resource, Event, error) {
	switch c.Op {
	case OpApply:
		return s.Apply(c.Resource, c.Expect)
	case OpDelete:
		return s.Delete(c.Ref, c.Expect)
	case OpRestore:
		return s.restore(c.Snapshot)
	}
	return Resource{}, Event{}, fmt.Errorf("%w: command %s", ErrUnsupported, c.Op)
}

// restore replaces the store with a snapshot's content; its event is a Reset
// at the restored revision. On error the store is unchanged.
func (s *Store) restore(snap []byte) (Resource, Event, error) {
	next, err := Restore(snap)
	if err != nil {
		return Resource{}, Event{}, err
	}
	restores := s.restores + 1
	*s = *next
	s.restores = restores
	return Resource{}, Event{Type: Reset, Revision: s.rev}, nil
}

// AppendCommand appends c's encoding (see the package doc) to b. For an op
// other than OpApply and OpDelete it writes the header only.
func AppendCommand(b []byte, c Command) []byte {
	b = append(b, commandVersion, byte(c.Op), boolByte(c.Expect.Set))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Expect.Revision))
	switch c.Op {
	case OpApply:
		b = AppendResource(b, c.Resource)
	case OpDelete:
		b = appendRef(b, c.Ref)
	case OpRestore:
		b = binary.BigEndian.AppendUint32(b, uint32(len(c.Snapshot)))
		b = append(b, c.Snapshot...)
	}
	return b
}

// DecodeCommand decodes one command from the front of b and returns the
// bytes after it. Only canonical encodings are accepted, so a decoded
// command re-encodes to exactly the bytes it came from.
//
// Errors: *InvalidError (ErrInvalid) for malformed bytes; ErrUnsupported for
// a version or op this build does not know.
func DecodeCommand(b []byte) (Command, []byte, error) {
	d := decoder{b: b, what: "command"}
	c := d.command()
	if d.err != nil {
		return Command{}, nil, d.err
	}
	return c, d.b, nil
}

func (d *decoder) command() Command {
	d.version("command", commandVersion)
	var c Command
	c.Op = Op(d.u8("op"))
	set := d.u8("expect")
	c.Expect = Expect{Set: set == 1, Revision: Revision(d.u64("expect revision"))}
	switch {
	case d.err != nil:
	case set > 1 || (set == 0 && c.Expect.Revision != 0):
		d.fail("expect: flag %d with revision %d is not canonical", set, c.Expect.Revision)
	case c.Op == OpApply:
		c.Resource = d.resource()
	case c.Op == OpDelete:
		c.Ref = d.ref()
	case c.Op == OpRestore:
		c.Snapshot = d.snapshotBytes()
	default:
		d.err = fmt.Errorf("%w: command %s", ErrUnsupported, c.Op)
	}
	return c
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// SnapshotBytesMax bounds a restore command's snapshot.
const SnapshotBytesMax = 256 << 20

// snapshotBytes reads a restore command's snapshot, refusing a length over
// SnapshotBytesMax before anything else. The bytes alias the input.
func (d *decoder) snapshotBytes() []byte {
	n := d.u32("snapshot length")
	if n > SnapshotBytesMax {
		d.fail("snapshot: %d bytes, limit %d", n, SnapshotBytesMax)
	}
	return d.take(int(n), "snapshot")
}

// Validate checks a command before it is proposed, so that what enters the
// Raft log always decodes: the resource of an apply, the ref of a delete,
// the size of a restore's snapshot. The store re-checks when it executes.
func (c Command) Validate() error {
	switch c.Op {
	case OpApply:
		return validInput(c.Resource)
	case OpDelete:
		return c.Ref.Validate()
	case OpRestore:
		if len(c.Snapshot) > SnapshotBytesMax {
			return &InvalidError{Field: "snapshot", Reason: fmt.Sprintf("%d bytes, limit %d", len(c.Snapshot), SnapshotBytesMax)}
		}
		return nil
	}
	return fmt.Errorf("%w: command %s", ErrUnsupported, c.Op)
}
