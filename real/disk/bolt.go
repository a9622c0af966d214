package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Errors.
var (
	// ErrCorrupt: the file is damaged, or is not a database of this kind.
	ErrCorrupt = errors.New("disk: corrupt database")
	// ErrLocked: another process has the file open.
	ErrLocked = errors.New("disk: database in use by another process")
	// ErrClosed: the Backend or Storage was closed.
	ErrClosed = errors.New("disk: closed")
)

// LockWaitMax is how long opening a file waits for another process to let go
// of it (bbolt holds an exclusive flock while a file is open).
const LockWaitMax = 2 * time.Second

// open opens (or creates) the bbolt file at path and checks, or for a new
// file writes, its layout marker in bucket meta. init creates a new file's
// buckets in the same transaction.
func open(path, meta, layout string, init func(*bolt.Tx) error) (*bolt.DB, error) {
	db, err := openBolt(path)
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s (waited %s)", ErrLocked, path, LockWaitMax)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrVersionMismatch):
		return nil, corrupt(path, err)
	case errors.Is(err, ErrCorrupt):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("disk: open %s: %w", path, err)
	}
	err = guard(path, func() error {
		return db.Update(func(tx *bolt.Tx) error { return checkLayout(tx, path, meta, layout, init) })
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openBolt is bolt.Open under guard. bbolt reads the freelist at open, so a
// truncated file faults there; the file is then closed, which releases its
// lock (the mapping stays behind: the price of a damaged file).
func openBolt(path string) (db *bolt.DB, err error) {
	var f *os.File
	openFile := func(name string, flag int, perm os.FileMode) (*os.File, error) {
		var err error
		f, err = os.OpenFile(name, flag, perm)
		return f, err
	}
	err = guard(path, func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: LockWaitMax, OpenFile: openFile})
		return err
	})
	if errors.Is(err, ErrCorrupt) && db == nil && f != nil {
		f.Close()
	}
	return db, err
}

// checkLayout accepts a file with the layout marker, and initialises an
// empty one.
func checkLayout(tx *bolt.Tx, path, meta, layout string, init func(*bolt.Tx) error) error {
	if b := tx.Bucket([]byte(meta)); b != nil {
		if got := string(b.Get([]byte("layout"))); got != layout {
			return corrupt(path, fmt.Errorf("layout %q, want %q", got, layout))
		}
		return nil
	}
	empty := true
	tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
	if !empty {
		return corrupt(path, fmt.Errorf("no %q bucket: not a revoada file of this kind", meta))
	}
	b, err := tx.CreateBucket([]byte(meta))
	if err != nil {
		return err
	}
	if err := b.Put([]byte("layout"), []byte(layout)); err != nil {
		return err
	}
	return init(tx)
}

// guard runs f, turning a panic into an ErrCorrupt error naming path: bbolt
// panics on some damaged pages, and reading a mapped page past the end of a
// truncated file faults (SIGBUS), which SetPanicOnFault makes a panic.
func guard(path string, f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %s: unreadable page (damaged or truncated file): %v", ErrCorrupt, path, p)
		}
	}()
	return f()
}

// corrupt says the file at path holds what err describes.
func corrupt(path string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// getU64 decodes an 8-byte big-endian value; absent is 0.
func getU64(b *bolt.Bucket, key string) (uint64, error) {
	v := b.Get([]byte(key))
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(v), nil
	}
	return 0, fmt.Errorf("%s: %d bytes, want 8", key, len(v))
}

// createBuckets creates the named buckets.
func createBuckets(tx *bolt.Tx, names ...string) error {
	for _, n := range names {
		if _, err := tx.CreateBucket([]byte(n)); err != nil {
			return err
		}
	}
	return nil
}
