package smartban

import (
	"iter"
	"sync"

	g "github.com/anacrolix/generics"
)

type Cache[Peer, BlockKey, Hash comparable] struct {
	Hash func([]byte) Hash

	// Wonder if we should make this an atomic.
	lock   sync.RWMutex
	blocks map[BlockKey][]peerAndHash[Peer, Hash]
}

type Block[Key any] struct {
	Key  Key
	Data []byte
}

type peerAndHash[Peer, Hash any] struct {
	Peer Peer
	Hash Hash
	// torrentfs: Known is false for a block recorded without its hash (RecordPeer) until
	// FillBlock gives it the hash of the bytes stored for it.
	Known bool
}

func (me *Cache[Peer, BlockKey, Hash]) Init() {
	g.MakeMap(&me.blocks)
}

func (me *Cache[Peer, BlockKey, Hash]) RecordBlock(peer Peer, key BlockKey, data []byte) {
	hash := me.Hash(data)
	me.lock.Lock()
	defer me.lock.Unlock()
	peers := me.blocks[key]
	peers = append(peers, peerAndHash[Peer, Hash]{peer, hash, true})
	me.blocks[key] = peers
}

// torrentfs: RecordPeer records that peer sent the block at key, which was stored, without
// hashing it: a block is hashed (FillBlock) only if its piece fails, when its stored bytes are
// still the ones peer sent. A record without a hash stands for the bytes stored now; CheckBlock
// blames none of them, as the stored bytes are the ones it checks.
func (me *Cache[Peer, BlockKey, Hash]) RecordPeer(peer Peer, key BlockKey) {
	me.lock.Lock()
	defer me.lock.Unlock()
	me.blocks[key] = append(me.blocks[key], peerAndHash[Peer, Hash]{Peer: peer})
}

// torrentfs: FillBlock gives the block at key's latest record without a hash the hash of data,
// the bytes stored for it, and forgets its other records without one: those are of writes that
// were replaced (a write that failed), whose bytes are not known.
func (me *Cache[Peer, BlockKey, Hash]) FillBlock(key BlockKey, data []byte) {
	me.lock.Lock()
	defer me.lock.Unlock()
	items := me.blocks[key]
	last := -1
	for i, item := range items {
		if !item.Known {
			last = i
		}
	}
	if last < 0 {
		return
	}
	items[last].Hash, items[last].Known = me.Hash(data), true
	kept := items[:0]
	for _, item := range items {
		if item.Known {
			kept = append(kept, item)
		}
	}
	me.blocks[key] = kept
}

// torrentfs: ForgetUnknownForBlocks forgets the records without a hash of the blocks in the
// sequence: after a piece failed, its blocks are fetched again, and such a record (its read
// back failed) would be filled with the next writer's bytes.
func (me *Cache[Peer, BlockKey, Hash]) ForgetUnknownForBlocks(seq iter.Seq[BlockKey]) {
	me.lock.Lock()
	defer me.lock.Unlock()
	for key := range seq {
		items := me.blocks[key]
		kept := items[:0]
		for _, item := range items {
			if item.Known {
				kept = append(kept, item)
			}
		}
		if len(kept) == 0 {
			delete(me.blocks, key)
		} else {
			me.blocks[key] = kept
		}
	}
}

// torrentfs: HasUnknownForBlocks reports whether a block in the sequence has a record without
// its hash.
func (me *Cache[Peer, BlockKey, Hash]) HasUnknownForBlocks(seq iter.Seq[BlockKey]) bool {
	me.lock.RLock()
	defer me.lock.RUnlock()
	if len(me.blocks) == 0 {
		return false
	}
	for key := range seq {
		for _, item := range me.blocks[key] {
			if !item.Known {
				return true
			}
		}
	}
	return false
}

func (me *Cache[Peer, BlockKey, Hash]) CheckBlock(key BlockKey, data []byte) (bad []Peer) {
	correct := me.Hash(data)
	me.lock.RLock()
	defer me.lock.RUnlock()
	for _, item := range me.blocks[key] {
		// torrentfs: a record without a hash is of the bytes stored now, the ones checked.
		if item.Known && item.Hash != correct {
			bad = append(bad, item.Peer)
		}
	}
	return
}

func (me *Cache[Peer, BlockKey, Hash]) ForgetBlockSeq(seq iter.Seq[BlockKey]) {
	me.lock.Lock()
	defer me.lock.Unlock()
	if len(me.blocks) == 0 {
		return
	}
	for key := range seq {
		delete(me.blocks, key)
	}
}

// Returns whether any block in the sequence has at least one peer recorded.
func (me *Cache[Peer, BlockKey, Hash]) HasPeerForBlocks(seq iter.Seq[BlockKey]) bool {
	me.lock.RLock()
	defer me.lock.RUnlock()
	if len(me.blocks) == 0 {
		return false
	}
	for key := range seq {
		if len(me.blocks[key]) != 0 {
			return true
		}
	}
	return false
}

// torrentfs: SeveralPeersForBlocks reports whether blocks in the sequence were recorded from
// two peers or more.
func (me *Cache[Peer, BlockKey, Hash]) SeveralPeersForBlocks(seq iter.Seq[BlockKey]) bool {
	me.lock.RLock()
	defer me.lock.RUnlock()
	if len(me.blocks) == 0 {
		return false
	}
	var first g.Option[Peer]
	for key := range seq {
		for _, item := range me.blocks[key] {
			if !first.Ok {
				first.Set(item.Peer)
			} else if item.Peer != first.Value {
				return true
			}
		}
	}
	return false
}

// torrentfs: HashesDifferForBlocks reports whether a block in the sequence was recorded with
// two hashes or more: two peers, or one peer twice, sent different bytes for it. A record
// without a hash (RecordPeer) is of the bytes stored now, and differs from a known hash only
// if they differ: CheckBlock finds that; it is not counted here.
func (me *Cache[Peer, BlockKey, Hash]) HashesDifferForBlocks(seq iter.Seq[BlockKey]) bool {
	me.lock.RLock()
	defer me.lock.RUnlock()
	if len(me.blocks) == 0 {
		return false
	}
	for key := range seq {
		var first g.Option[Hash]
		for _, item := range me.blocks[key] {
			if !item.Known {
				continue
			}
			if !first.Ok {
				first.Set(item.Hash)
			} else if item.Hash != first.Value {
				return true
			}
		}
	}
	return false
}

func (me *Cache[Peer, BlockKey, Hash]) HasBlocks() bool {
	me.lock.RLock()
	defer me.lock.RUnlock()
	return len(me.blocks) != 0
}
