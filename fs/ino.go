package fs

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Inode numbers that last. Media servers and re-exports key on them, so a node's number is
// a function of what it is, never of when it was made:
//
//   - a file's identity is its torrent's info-hash and its index in the torrent's file list;
//   - a directory's is the info-hash, its parent's identity and its name as the torrent
//     gives it, cleaned (the top directory of a torrent has no parent and the name "");
//   - the mount's root is always FUSE_ROOT_ID (1).
//
// The number is the first 63 bits of SHA-256 of the identity and a probe count, from 0.
// The first number that is neither 0 nor 1 and not already taken is the node's. A torrent's
// tree is numbered whole when it is built, probing among its own numbers only, in the
// order of its file list, so that its numbers depend on the torrent alone. Attach then
// checks them against the other torrents' numbers, and numbers the tree again, probing
// past those too, in the rare case (a 63-bit collision between two torrents) that one is
// taken. Only then does the order of adding matter.
//
// 63 bits, not 64: the top bit is go-fuse's range of automatic numbers, and programs that
// hold an inode number in a signed 64-bit integer see it positive.
//
// A torrent removed and added again gets the same numbers, while the kernel may still
// hold nodes of its old tree (files open, or not forgotten yet). go-fuse would take a new
// node with the same number, type and generation for the old one (a hard link), so each
// tree built gets a generation of its own (StableAttr.Gen).

// inoVersion starts every identity, so that a change of scheme changes every number
// rather than some.
const inoVersion = "torrentfs inode v1\x00"

// Kinds of node, in an identity.
const (
	kindFile = 'f'
	kindDir  = 'd'
)

// hashIno is the hash of identities: the first 63 bits of SHA-256.
func hashIno(b []byte) uint64 {
	s := sha256.Sum256(b)
	return binary.BigEndian.Uint64(s[:8]) >> 1
}

// inos numbers the nodes of one tree.
type inos struct {
	hash  func([]byte) uint64 // nil for hashIno
	ih    string              // the torrent's info-hash, hex
	taken func(uint64) bool   // numbers of other trees, or nil
	mine  map[uint64]bool     // numbers given to this tree
	list  []uint64            // numbers given to this tree, in order
	buf   []byte              // an identity being hashed
	gen   uint64              // the tree's generation
}

// file returns the number of file i of the torrent.
func (a *inos) file(i int) uint64 {
	a.buf = binary.AppendUvarint(a.start(kindFile), uint64(i))
	_, ino := a.number()
	return ino
}

// dir returns the key (the identity's hash at probe 0, whatever the number given, so that
// a probe does not move the numbers below) and the number of the directory called name in
// the directory whose key is parent.
func (a *inos) dir(parent uint64, name string) (key, ino uint64) {
	a.buf = append(binary.BigEndian.AppendUint64(a.start(kindDir), parent), name...)
	return a.number()
}

func (a *inos) start(kind byte) []byte {
	return append(append(append(a.buf[:0], inoVersion...), a.ih...), kind)
}

// number probes for the first free number of the identity in buf.
func (a *inos) number() (key, ino uint64) {
	if a.mine == nil {
		a.mine = make(map[uint64]bool)
	}
	n := len(a.buf)
	for probe := uint64(0); ; probe++ {
		a.buf = binary.AppendUvarint(a.buf[:n], probe)
		if a.hash == nil {
			ino = hashIno(a.buf)
		} else {
			ino = a.hash(a.buf)
		}
		if probe == 0 {
			key = ino
		}
		if ino <= fuse.FUSE_ROOT_ID || ino == ^uint64(0) || a.mine[ino] || a.taken != nil && a.taken(ino) {
			continue
		}
		a.mine[ino] = true
		a.list = append(a.list, ino)
		return key, ino
	}
}
