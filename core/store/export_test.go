package store

import (
	"encoding/binary"
	"hash/crc32"
)

// Reseal returns a copy of b with its trailing snapshot checksum recomputed,
// so fuzzing reaches the decoder behind the checksum.
func Reseal(b []byte) []byte {
	if len(b) < snapshotTrailerBytes {
		return b
	}
	out := append([]byte(nil), b...)
	body := out[:len(out)-snapshotTrailerBytes]
	binary.BigEndian.PutUint32(out[len(body):], crc32.Checksum(body, castagnoli))
	return out
}
