package node

import (
	"encoding/binary"
	"fmt"

	pb "go.etcd.io/raft/v3/raftpb"
	"lukechampine.com/blake3"

	"revoada.dev/revoada/core/roles"
)

// EntryDigest identifies an entry by its term, type and data, so that two
// replicas applying different entries at one index can be told apart.
func EntryDigest(e *pb.Entry) roles.Digest { return entryDigest(blake3.New(32, nil), e) }

// entryDigest is EntryDigest with the hasher h, which it resets first: a
// node reuses one (blake3.New allocates 3 KB).
func entryDigest(h *blake3.Hasher, e *pb.Entry) roles.Digest {
	h.Reset()
	var hdr [9]byte
	binary.BigEndian.PutUint64(hdr[:8], e.GetTerm())
	hdr[8] = byte(e.GetType())
	h.Write(hdr[:])
	h.Write(e.GetData())
	var d roles.Digest
	h.Sum(d[:0])
	return d
}

// discardLogger silences raft: the simulator runs thousands of nodes, and
// library code does not print. Fatal and Panic still stop the run, through a
// panic the driver reports as a failed run.
type discardLogger struct{}

func (discardLogger) Debug(...any)            {}
func (discardLogger) Debugf(string, ...any)   {}
func (discardLogger) Info(...any)             {}
func (discardLogger) Infof(string, ...any)    {}
func (discardLogger) Warning(...any)          {}
func (discardLogger) Warningf(string, ...any) {}
func (discardLogger) Error(...any)            {}
func (discardLogger) Errorf(string, ...any)   {}
func (discardLogger) Fatal(v ...any)          { panic(fmt.Sprint(v...)) }
func (discardLogger) Fatalf(f string, v ...any) {
	panic(fmt.Sprintf(f, v...))
}
func (discardLogger) Panic(v ...any)            { panic(fmt.Sprint(v...)) }
func (discardLogger) Panicf(f string, v ...any) { panic(fmt.Sprintf(f, v...)) }
