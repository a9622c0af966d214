// Package content is layer C of revoada: a content-addressed blob store and
// the want/part protocol workers use to pull blobs from peers by digest.
//
// # Addresses
//
// A blob is named by its Digest, the BLAKE3-256 hash of its bytes
// (lukechampine.com/blake3 v1.3.0, pinned because later versions start
// goroutines inside Write; core runs on its caller's goroutine alone). A state
// root names a Manifest by digest; the Manifest names every resource blob by
// digest and size. Nothing is trusted for what a peer says it is: every byte
// is checked against a digest before it is used.
//
// # Protocol
//
// A worker sends a Want (digest, offset, length ≤ PartMax) to a peer; the
// peer answers from its Store with a Part, or says it lacks the blob. Blobs
// of at most PartMax bytes travel whole in one Part and are checked by Sum.
// Larger blobs travel in parts of PartMax bytes, each carrying a Bao slice
// (BLAKE3 verified streaming): the blob's bytes in the asked range with the
// sibling hashes on the path from the root, so a part is checked against the
// blob's digest on arrival, before the rest of the blob is in, and a bad part
// costs one part, not the whole blob. The Bao root of a blob is its plain
// BLAKE3 hash, so small and large blobs share one address space.
//
// A Bao slice is verified under the size its 8-byte header claims, and a slice
// from the middle of a blob does not prove that size: a liar could claim
// another size with the same top-level tree split and still pass. So a part
// at offset 0 of a large blob also carries the slice of the blob's last byte,
// which proves the size (Bao spec: decoding the final chunk authenticates the
// length). A Fetcher that does not know a blob's size asks offset 0 first and
// allocates nothing for the blob until that part proves a size ≤ BlobMax.
// A size given to Fetch is trusted (it comes from a verified manifest).
//
// A peer serves a Want with Store.Part and sends the Part, or tells the
// asker it lacks the blob when Part answers false; the asker hands the Part
// to Fetcher.Receive (or the lack to Fetcher.Lacks). Parts travel encoded
// by AppendPart and DecodePart, which refuses Data longer than PartDataMax
// before copying it.
//
// # Fetching
//
// A Fetcher keeps at most InFlightMax wants outstanding. It asks a blob's
// sources in the order given (nearest first), spreading the blob's parts
// over the sources with the fewest of its wants in flight; a want that times
// out (TimeoutTicks), meets a lack or draws a bad part is asked of the next
// source, and the peer at fault is skipped for the rest of the cycle (a
// peer that sent a bad part is asked only after every good one, in every
// later cycle). When every source has failed it waits TimeoutTicks and
// starts a new cycle: a peer may gain the blob later, and only Cancel ends
// a fetch. A part nobody asked for (wrong peer, offset, or after a timeout
// or Cancel) is refused and counted, never stored.
//
// # Choices
//
//   - Bao with 16 KiB chunk groups (group 4): one group is one part, so an
//     aligned part is one leaf of the stored tree; the outboard tree a Store
//     keeps is 64 bytes per 16 KiB (0.4%), and a part's proof is at most
//     64 bytes per tree level (9 levels at BlobMax).
//   - PartMax 16 KiB: small enough that a corrupt part wastes little and
//     parts of one blob spread over several peers, large enough that proofs
//     stay a few percent of the bytes.
//   - The size proof rides on the offset-0 part rather than on every part: it
//     costs up to one group (16 KiB) per large blob, once, and the Fetcher
//     asks offset 0 first only when it does not know the size.
//   - BlobMax 8 MiB: resources are manifests and specs, not images; a named
//     limit bounds the memory a fetch allocates.
//   - Wire codecs are fixed-width big-endian behind a version byte: canonical
//     by construction, so encodings can be hashed.
//
// # Driving
//
// Store and Fetcher are not safe for concurrent use; drive them from one
// goroutine. Time is ticks: Fetcher.Tick times requests out. Output is
// returned data (Fetcher.Requests), in a deterministic order.
package content
