package sim

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/wal"
)

// The simulated disk's errors.
var (
	// ErrDiskFull is what a write to a full disk returns (ENOSPC).
	ErrDiskFull = errors.New("sim: no space left on device")
	// ErrDiskRead is what a failed read returns (EIO).
	ErrDiskRead = errors.New("sim: input/output error reading the disk")
)

// DiskRetryDelay is how long after a node stopped by its disk (a failed
// write, sync or read) the simulator starts it again, as a supervisor
// would. A node whose log is corrupt is not restarted: it refuses to start
// until an operator intervenes, and the mesh carries on without it.
const DiskRetryDelay = time.Second

// disk is a node's simulated stable storage: the write-ahead log (core/wal,
// the persistence layer under test) on a wal.MemDir (writes durable only
// after a sync; a crash keeps a prefix of the unsynced writes torn at a
// sector boundary), with the plan's disk faults and planted bugs on top.
type disk struct {
	mem        *wal.MemDir
	log        *wal.Log   // nil while the node is down
	rand       *rand.Rand // tears, corruption and read errors
	full       bool       // every write fails with ErrDiskFull
	readErrors float64    // the probability a read fails with ErrDiskRead
	forgetVote bool       // planted bug: the vote is never written
}

var (
	_ node.Storage = (*disk)(nil)
	_ wal.Dir      = (*disk)(nil)
)

func newDisk(r *rand.Rand, forgetVote bool) *disk {
	return &disk{mem: wal.NewMemDir(), rand: r, forgetVote: forgetVote}
}

// open replays the log as a starting node does, and returns what it found.
func (d *disk) open() (node.Durable, wal.Recovery, error) {
	l, err := wal.Open(d)
	if err != nil {
		return node.Durable{}, wal.Recovery{}, err
	}
	d.log = l
	durable, err := l.Load()
	return durable, l.Recovery(), err
}

func (d *disk) Save(p node.Persist) error {
	if d.forgetVote && p.HardState != nil {
		hs := proto.Clone(p.HardState).(*pb.HardState)
		hs.Vote = nil
		p.HardState = hs
	}
	return d.log.Save(p)
}

func (d *disk) Sync() error { return d.log.Sync() }

func (d *disk) Load() (node.Durable, error) { return d.log.Load() }

// crash stops the log: the unsynced writes are torn (wal.MemDir.Crash).
func (d *disk) crash() {
	d.log = nil
	d.mem.Crash(d.rand)
}

// The wal.Dir the log sees: the MemDir's files with the faults in force.

func (d *disk) Open(name string) (wal.File, error) {
	f, err := d.mem.Open(name)
	if err != nil {
		return nil, err
	}
	return faultyFile{f, d}, nil
}

func (d *disk) Rename(from, to string) error { return d.mem.Rename(from, to) }
func (d *disk) Remove(name string) error     { return d.mem.Remove(name) }

type faultyFile struct {
	wal.File
	d *disk
}

func (f faultyFile) ReadAt(p []byte, off int64) (int, error) {
	if f.d.readErrors > 0 && f.d.rand.Float64() < f.d.readErrors {
		return 0, ErrDiskRead
	}
	return f.File.ReadAt(p, off)
}

func (f faultyFile) Append(p []byte) error {
	if f.d.full {
		return ErrDiskFull
	}
	return f.File.Append(p)
}

// diskFailed records that node i's disk failed (err) in the middle of a
// step: the node sends nothing more, and its process exits as a crash
// would, at once but after the step (evDiskStop); a supervisor starts it
// again DiskRetryDelay later.
func (s *simulator) diskFailed(i int, err error) {
	sn := s.nodes[i]
	sn.diskErr = err
	s.trace.event(s.now, sn.name, "disk-error", err.Error())
	s.cover.Sometimes(CoverDiskStopped)
	s.push(event{at: s.now, kind: evDiskStop, node: i, gen: sn.incarnation})
}

// diskStop ends the incarnation whose disk failed.
func (s *simulator) diskStop(i int, incarnation uint64) {
	if sn := s.nodes[i]; sn.n != nil && sn.incarnation == incarnation {
		s.apply(Crash, []int{i})
		s.retryStart(i)
	}
}

// retryStart schedules node i's start DiskRetryDelay from now.
func (s *simulator) retryStart(i int) {
	s.nodes[i].restartPending = true
	s.push(event{at: s.now + DiskRetryDelay, kind: evUndo, undo: &undo{kind: Crash, nodes: []int{i}}})
}

// startFailed handles a start whose log could not be opened: a corrupt log
// is refused for good (never served); any other failure is retried.
func (s *simulator) startFailed(i int, err error) {
	sn := s.nodes[i]
	if errors.Is(err, wal.ErrCorrupt) || errors.Is(err, node.ErrCorruptSnapshot) {
		sn.restartPending = false // down for good
		what := "corrupt log"
		if errors.Is(err, node.ErrCorruptSnapshot) {
			what = "its state does not verify"
			s.cover.Sometimes(CoverStateRefused)
		} else {
			s.cover.Sometimes(CoverDiskRefused)
		}
		s.trace.event(s.now, sn.name, "refuse", err.Error())
		s.mark(sn.name, checkers.MarkFault, "refused to start: "+what)
		return
	}
	s.cover.Sometimes(CoverDiskRetried)
	s.trace.event(s.now, sn.name, "start-failed", err.Error())
	s.retryStart(i)
}

// corruptDisk flips a random byte of the synced part of node i's log, as
// bit rot would; the node notices when it next opens the log.
func (s *simulator) corruptDisk(i int) {
	sn := s.nodes[i]
	synced := sn.disk.mem.Synced(wal.Name)
	if synced == 0 {
		s.trace.event(s.now, sn.name, "disk", "corrupt: nothing synced")
		return
	}
	off := sn.disk.rand.Int64N(synced)
	mask := byte(1 + sn.disk.rand.IntN(255))
	if err := sn.disk.mem.Flip(wal.Name, off, mask); err != nil {
		panic(fmt.Sprintf("sim: %s: %v", sn.name, err))
	}
	s.trace.event(s.now, sn.name, "disk", fmt.Sprintf("corrupt byte %d of %d (xor %#02x)", off, synced, mask))
}

// diskFault breaks the targets' disks (Fault.Mode): corrupt flips a byte of
// what each has synced, noticed when it next opens its log; full fails
// every write, which stops a running node; read-errors fails each read with
// probability Rate, which fails a start.
func (s *simulator) diskFault(f Fault, targets []int) {
	for _, i := range targets {
		d := s.nodes[i].disk
		switch f.Mode {
		case DiskCorrupt:
			s.corruptDisk(i)
		case DiskTamper:
			s.tamperDisk(i)
		case DiskFull:
			d.full = true
		case DiskReadErrors:
			d.readErrors = f.Rate
		}
	}
}

// diskUndo ends a full disk or read errors.
func (s *simulator) diskUndo(nodes []int, mode DiskMode) {
	for _, i := range nodes {
		d := s.nodes[i].disk
		switch mode {
		case DiskFull:
			d.full = false
		case DiskReadErrors:
			d.readErrors = 0
		}
	}
}

// tamperDisk alters the role history in node i's snapshot as an attacker
// with its disk would: the last leader-signed block's timestamp moves by a
// nanosecond, and the log is written anew around it, every checksum good.
// The node is crashed first if it runs, and started a second later (the
// attacker's reboot): it must refuse its state, the leader's signature on
// that block no longer verifying.
func (s *simulator) tamperDisk(i int) {
	sn := s.nodes[i]
	if sn.n != nil {
		s.apply(Crash, []int{i})
	}
	sn.restartPending = true
	s.push(event{at: s.now + time.Second, kind: evUndo, undo: &undo{kind: Crash, nodes: []int{i}}})
	durable, _, err := sn.disk.open()
	sn.disk.log = nil
	if err != nil || durable.Snapshot == nil {
		s.trace.event(s.now, sn.name, "disk", "tamper: no snapshot to alter")
		return
	}
	data, seq, ok := tamperChain(durable.Snapshot.GetData())
	if !ok {
		s.trace.event(s.now, sn.name, "disk", "tamper: no signed block in its snapshot")
		return
	}
	snap := proto.Clone(durable.Snapshot).(*pb.Snapshot)
	snap.Data = data
	sn.disk.mem = wal.NewMemDir()
	l, err := wal.Open(sn.disk)
	if err == nil {
		err = l.Save(node.Persist{Snapshot: snap, Entries: durable.Entries, HardState: durable.HardState})
	}
	if err == nil {
		err = l.Sync()
	}
	if err != nil {
		panic(fmt.Sprintf("sim: %s: rewriting a tampered disk: %v", sn.name, err))
	}
	s.trace.event(s.now, sn.name, "disk", fmt.Sprintf("tamper: role history block %d re-stamped", seq))
}

// tamperChain returns snapshot bytes whose role history (the snapshot's
// last part) has its last leader-signed block's timestamp moved, and that
// block's sequence number; false if the history holds no such block.
func tamperChain(data []byte) ([]byte, uint64, bool) {
	m, err := node.DecodeMachine(data)
	if err != nil {
		return nil, 0, false
	}
	tail := m.Chain().AppendTo(nil)
	if !bytes.HasSuffix(data, tail) {
		panic("sim: a snapshot does not end in its role history")
	}
	blocks := m.Chain().Blocks()
	for k := len(blocks) - 1; k > 0; k-- {
		if blocks[k].Proposal.Sig != (attest.Sig{}) {
			blocks[k].Proposal.Time++
			out := attest.AppendChain(bytes.Clone(data[:len(data)-len(tail)]), blocks)
			return out, blocks[k].Seq, true
		}
	}
	return nil, 0, false
}
