package torrent

import (
	"net/netip"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/missinggo/v2/panicif"

	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent/smartban"
)

// torrentfs: a peer's identity for banning is its IP address, as upstream has it, except on a
// loopback address, where every process of the host shares the IP: there it is the IP and
// port. Banning 127.0.0.1 for one local peer's bad data also dropped every honest local
// peer and refused to dial them again.
type bannableAddr = netip.AddrPort

// torrentfs: bannableAddrOf is the identity a peer at ap is banned by.
func bannableAddrOf(ap netip.AddrPort) bannableAddr {
	ip := ap.Addr().Unmap()
	if ip.IsLoopback() {
		return netip.AddrPortFrom(ip, ap.Port())
	}
	return netip.AddrPortFrom(ip, 0)
}

// torrentfs: bannableAddrString is an identity as an address, with a port only if it has one.
func bannableAddrString(a bannableAddr) string {
	if a.Port() == 0 {
		return a.Addr().String()
	}
	return a.String()
}

// TODO: Should be keyed on weak[Peer].
type smartBanCache = smartban.Cache[bannableAddr, RequestIndex, uint64]

type blockCheckingWriter struct {
	cache        *smartBanCache
	requestIndex RequestIndex
	// Peers that didn't match blocks written now.
	badPeers map[bannableAddr]struct{}
	// torrentfs: fill gives the blocks' records without a hash the hash of the blocks written
	// (smartban.Cache.FillBlock) instead of checking them.
	fill        bool
	chunkBuffer []byte
	bufferUsed  int
}

func (me *blockCheckingWriter) chunkSize() int {
	return len(me.chunkBuffer)
}

func (me *blockCheckingWriter) checkBufferedBlock() {
	panicif.Zero(me.bufferUsed)
	b := me.chunkBuffer[:me.bufferUsed]
	me.bufferUsed = 0
	me.checkBlock(b)
}

func (me *blockCheckingWriter) checkBlock(b []byte) {
	if me.fill {
		me.cache.FillBlock(me.requestIndex, b)
		me.requestIndex++
		return
	}
	for _, peer := range me.cache.CheckBlock(me.requestIndex, b) {
		g.MakeMapIfNil(&me.badPeers)
		me.badPeers[peer] = struct{}{}
	}
	me.requestIndex++
}

func (me *blockCheckingWriter) finishPartialBlock(b []byte) int {
	if me.bufferUsed == 0 {
		return 0
	}
	panicif.NotEq(len(me.chunkBuffer), me.chunkSize())
	n := copy(me.chunkBuffer[me.bufferUsed:], b)
	me.bufferUsed += n
	if me.bufferUsed >= me.chunkSize() {
		me.checkBufferedBlock()
	}
	return n
}

func (me *blockCheckingWriter) Write(b []byte) (n int, err error) {
	n = me.finishPartialBlock(b)
	b = b[n:]
	if len(b) == 0 {
		return
	}
	for len(b) >= me.chunkSize() {
		me.checkBlock(b[:me.chunkSize()])
		b = b[me.chunkSize():]
		n += me.chunkSize()
	}
	panicif.NotZero(me.bufferUsed)
	me.bufferUsed = copy(me.chunkBuffer, b)
	n += me.bufferUsed
	return n, err
}

// Check any remaining block data. Terminal pieces or piece sizes that don't divide into the chunk
// size cleanly may leave fragments that should be checked.
func (me *blockCheckingWriter) Flush() {
	if me.bufferUsed != 0 {
		me.checkBufferedBlock()
	}
	panicif.NotZero(me.bufferUsed)
}
