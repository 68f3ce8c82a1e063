package fs

import (
	"crypto/sha256"
	"encoding/binary"
)

// Inode numbers that last. Media servers and re-exports key on them, so a node's number is
// a function of the torrent and the node's place in it, never of when it was made:
//
//   - a torrent owns a slot of 2^21 numbers, chosen by the first 42 bits of SHA-256 of
//     its info-hash (and a probe count, from 0): its base is the slot number times 2^21;
//   - its nodes are numbered base, base+1… in the order the tree is built: the top
//     directory, then for each file in the torrent's order, the directories on its path not
//     made yet, then the file (a single-file torrent's file is base). A file's number is
//     then a function of its info-hash and its index, and the order of the torrent;
//   - the mount's root is always FUSE_ROOT_ID (1); slot 0, which holds 0 and 1, is never
//     a torrent's.
//
// Numbers follow the torrent's order, as go-fuse's own sequential numbers did before:
// cp -r reads a directory's entries in inode order, and a read in the torrent's order
// streams across files (docs/read-path.md).
//
// A torrent with more than 2^21 nodes takes as many slots as it needs, one after the
// other. Two torrents collide only if their slots do (about 2^-42 for a pair). Attach then
// numbers the later one again from the next probe's slot whose range is free, so only
// then does the order of adding matter. 63 bits in all, not 64: the top bit is go-fuse's
// range of automatic numbers, and programs that hold an inode number in a signed 64-bit
// integer see it positive.
//
// A torrent removed and added again gets the same numbers, while the kernel may still
// hold nodes of its old tree (files open, or not forgotten yet). go-fuse would take a new
// node with the same number, type and generation for the old one (a hard link), so each
// tree built gets a generation of its own (StableAttr.Gen).

const (
	// inoVersion starts what is hashed, so that a change of scheme changes every number
	// rather than some.
	inoVersion = "torrentfs inode v1\x00"
	// slotBits is the width of a slot: a torrent's nodes are numbered within it.
	slotBits = 21
	// slotCount is how many slots there are: numbers have 63 bits.
	slotCount = 1 << (63 - slotBits)
	// rootIno is the mount root's number, FUSE_ROOT_ID.
	rootIno = 1
)

// hashSlot is the hash of slots: the first 42 bits of SHA-256.
func hashSlot(b []byte) uint64 {
	s := sha256.Sum256(b)
	return binary.BigEndian.Uint64(s[:8]) >> (64 - 63 + slotBits)
}

// slots say how a Mount numbers its trees. The zero value is torrentfs's; tests make
// slots collide.
type slots struct {
	hash func([]byte) uint64 // a slot from a torrent's info-hash and probe; nil for hashSlot
	bits uint                // the width of a slot; 0 for slotBits
}

func (s slots) width() uint {
	if s.bits == 0 {
		return slotBits
	}
	return s.bits
}

// find returns the first slot of ih's probes at which n slots are free (taken may be
// nil) and fit.
func (s slots) find(ih string, n uint64, taken func(uint64) bool) uint64 {
	count := uint64(1) << (63 - s.width())
	b := append([]byte(inoVersion), ih...)
	for probe := uint64(0); ; probe++ {
		b = binary.AppendUvarint(b[:len(inoVersion)+len(ih)], probe)
		var slot uint64
		if s.hash == nil {
			slot = hashSlot(b)
		} else {
			slot = s.hash(b)
		}
		slot %= count
		if slot == 0 || slot+n > count || taken != nil && anyTaken(slot, n, taken) {
			continue
		}
		return slot
	}
}

func anyTaken(slot, n uint64, taken func(uint64) bool) bool {
	for i := slot; i < slot+n; i++ {
		if taken(i) {
			return true
		}
	}
	return false
}

// inos numbers the nodes of one tree, in the order they are made.
type inos struct {
	base, n uint64 // the first number, and how many were given
	gen     uint64 // the tree's generation
}

func (a *inos) next() uint64 {
	a.n++
	return a.base + a.n - 1
}
