package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/status"
)

// misbehaviour is how a hostile peer departs from the protocol.
type misbehaviour int

const (
	badChunks    misbehaviour = iota // serves requests, some chunks with wrong bytes
	stallMidway                      // serves a few chunks of a piece, then never answers again
	dropPerPiece                     // closes the connection after sending each whole piece
	unrequested                      // sends chunks nobody asked for, with wrong bytes
	claimsIgnore                     // says it has every piece, never serves a request
	claimsReject                     // says it has every piece, rejects every request (BEP 6)
	garbage                          // sends messages that are not the protocol
	hugeLength                       // sends a length prefix of nearly 4 GiB
	idle                             // handshakes, then says nothing (the connection flood)
	requestFlood                     // asks for thousands of chunks without reading them
	controlName                      // names itself with 60 KiB of terminal controls, then idles
	badShared                        // serves every other chunk, some with wrong bytes, rejects the rest (BEP 6)
)

// chunkSize is the block size every client uses, anacrolix included.
const chunkSize = 16 << 10

// hostile is a BitTorrent peer on 127.0.0.1 that misbehaves in one way. It speaks the real
// wire protocol through anacrolix's peer_protocol package. It accepts the mount's
// connections on addr (give it to the mount with --peer) and can dial the mount. It is
// closed when the test ends: its listener and connections close and every goroutine it
// started has returned.
type hostile struct {
	how  misbehaviour
	ih   metainfo.Hash
	info *metainfo.Info
	data []byte // the torrent's bytes
	addr string
	// floodPieces is how many pieces, from the first, a requestFlood peer asks for. Set
	// before it dials.
	floodPieces int

	ctx    context.Context
	cancel context.CancelFunc
	ln     net.Listener
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{} // open connections, closed by close

	// What the peer did, for the test to check it was in the game.
	handshakes atomic.Int64 // connections that completed the handshake
	requests   atomic.Int64 // requests received
	served     atomic.Int64 // chunks sent as asked, with the right bytes
	spoilt     atomic.Int64 // chunks sent with wrong bytes, or never asked for
	rejected   atomic.Int64 // requests rejected or left unanswered on purpose
	dropped    atomic.Int64 // connections it closed itself after a piece
	closedByUs atomic.Int64 // connections the mount closed (the peer read EOF or a reset)
	// changed gets a token when handshakes, requests or closedByUs move, for waitUntil.
	changed chan struct{}
}

// bump says that a counter moved.
func (h *hostile) bump() {
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

// waitUntil waits, for a minute at most, until done reports true; it is checked again each
// time a counter moves. what describes the state for the failure.
func (h *hostile) waitUntil(t *testing.T, done func() bool, what func() string) {
	t.Helper()
	timeout := time.After(time.Minute)
	for !done() {
		select {
		case <-h.changed:
		case <-timeout:
			t.Fatalf("after a minute: %s", what())
		}
	}
}

func newHostile(t *testing.T, torrent string, data []byte, how misbehaviour) *hostile {
	t.Helper()
	mi, info := loadTorrent(t, torrent)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hostile{changed: make(chan struct{}, 1), how: how, ih: mi.HashInfoBytes(), info: &info, data: data, ln: ln,
		addr: ln.Addr().String(), conns: make(map[net.Conn]struct{})}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.serve(c)
		}
	}()
	t.Cleanup(h.close)
	return h
}

func (h *hostile) close() {
	h.cancel()
	h.ln.Close()
	h.mu.Lock()
	for c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// dial connects to the mount at addr and plays the peer's part on the connection.
func (h *hostile) dial(addr string) error {
	var d net.Dialer
	c, err := d.DialContext(h.ctx, "tcp", addr)
	if err != nil {
		return err
	}
	h.serve(c)
	return nil
}

// serve plays the peer's part on c in a goroutine that close waits for.
func (h *hostile) serve(c net.Conn) {
	h.mu.Lock()
	if h.ctx.Err() != nil {
		h.mu.Unlock()
		c.Close()
		return
	}
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.wg.Done()
		defer func() {
			h.mu.Lock()
			delete(h.conns, c)
			h.mu.Unlock()
			c.Close()
		}()
		if err := h.play(c); err != nil && h.ctx.Err() == nil {
			h.closedByUs.Add(1)
			h.bump()
		}
	}()
}

var errDropped = errors.New("hostile peer dropped the connection")

// play handshakes on c and misbehaves until the connection ends. It returns the error that
// ended it: the mount closing it, or errDropped.
func (h *hostile) play(c net.Conn) error {
	var id [20]byte
	copy(id[:], "-HO0001-")
	rand.Read(id[8:])
	exts := pp.NewPeerExtensionBytes(pp.ExtensionBitFast)
	if h.how == requestFlood {
		// Without the fast extension (BEP 6) a duplicate request is ignored, not a reason
		// to close the connection, so the flood goes on.
		exts = pp.NewPeerExtensionBytes()
	}
	if h.how == controlName {
		exts = pp.NewPeerExtensionBytes(pp.ExtensionBitFast, pp.ExtensionBitLtep)
	}
	res, err := pp.Handshake(h.ctx, c, &h.ih, id, exts)
	if err != nil {
		return err
	}
	if res.Hash != h.ih {
		return fmt.Errorf("handshake for %s", res.Hash)
	}
	h.handshakes.Add(1)
	h.bump()
	w := bufio.NewWriter(c)
	send := func(m pp.Message) error {
		if _, err := w.Write(m.MustMarshalBinary()); err != nil {
			return err
		}
		return w.Flush()
	}
	fast := res.SupportsFast()

	switch h.how {
	case idle:
		// Nothing but reading until the mount gives up on us.
		_, err := io.Copy(io.Discard, c)
		return err
	case controlName:
		// Just under the mount's 64 KiB message limit, so that the handshake is read.
		hs := pp.ExtendedHandshakeMessage{V: controlClientName, M: map[pp.ExtensionName]pp.ExtensionNumber{}}
		if err := send(pp.Message{Type: pp.Extended, ExtendedID: pp.HandshakeExtendedID, ExtendedPayload: bencode.MustMarshal(hs)}); err != nil {
			return err
		}
		_, err := io.Copy(io.Discard, c)
		return err
	case requestFlood:
		return h.flood(c, send)
	case garbage:
		return h.garbage(c, w)
	case hugeLength:
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], 0xfffffff0)
		w.Write(b[:])
		w.Write(bytes.Repeat([]byte{byte(pp.Piece)}, 64<<10))
		if err := w.Flush(); err != nil {
			return err
		}
		_, err := io.Copy(io.Discard, c)
		return err
	}

	n := h.info.NumPieces()
	if fast && h.how == claimsReject {
		err = send(pp.Message{Type: pp.HaveAll})
	} else {
		bf := make([]bool, n)
		for i := range bf {
			bf[i] = true
		}
		err = send(pp.Message{Type: pp.Bitfield, Bitfield: bf})
	}
	if err != nil {
		return err
	}
	if err := send(pp.Message{Type: pp.Unchoke}); err != nil {
		return err
	}

	dec := pp.Decoder{R: bufio.NewReader(c), MaxLength: 256 << 10,
		Pool: &sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}}
	sentOfPiece := make(map[int]int64) // bytes of each piece sent on this connection
	var unasked int64                  // unrequested chunks sent
	for {
		var m pp.Message
		if err := dec.Decode(&m); err != nil {
			return err
		}
		if m.Type != pp.Request || m.Keepalive {
			continue
		}
		h.requests.Add(1)
		h.bump()
		i, begin, length := int(m.Index), int64(m.Begin), int64(m.Length)
		if i >= n || length > chunkSize || begin+length > h.info.Piece(i).Length() {
			return fmt.Errorf("bad request %d %d %d", i, begin, length)
		}
		off := int64(i)*h.info.PieceLength + begin
		chunk := h.data[off : off+length]
		switch h.how {
		case badChunks:
			// Every third chunk of the torrent is wrong.
			if (off/chunkSize)%3 == 0 {
				chunk = bytes.Clone(chunk)
				chunk[0] ^= 0xff
				h.spoilt.Add(1)
			} else {
				h.served.Add(1)
			}
		case stallMidway:
			// Three chunks in all, then silence with the requests pending.
			if h.requests.Load() > 3 {
				h.rejected.Add(1)
				continue
			}
			h.served.Add(1)
		case dropPerPiece:
			h.served.Add(1)
		case unrequested:
			// An answer for a chunk of another piece, with wrong bytes, and none for the
			// request; then the chunk asked for, right.
			other := (i + 1 + int(unasked)) % n
			if err := send(pp.Message{Type: pp.Piece, Index: pp.Integer(other), Begin: 0,
				Piece: bytes.Repeat([]byte{0xa5}, int(min(chunkSize, h.info.Piece(other).Length())))}); err != nil {
				return err
			}
			unasked++
			h.spoilt.Add(1)
			h.served.Add(1)
		case claimsIgnore:
			h.rejected.Add(1)
			continue
		case badShared:
			// The odd chunks of the torrent only, so that no piece comes from it alone:
			// only smart banning can find it. One in two of those is wrong.
			if (off/chunkSize)%2 == 0 {
				h.rejected.Add(1)
				if fast {
					if err := send(pp.Message{Type: pp.Reject, Index: m.Index, Begin: m.Begin, Length: m.Length}); err != nil {
						return err
					}
				}
				continue
			}
			if (off/chunkSize)%4 == 1 {
				chunk = bytes.Clone(chunk)
				chunk[0] ^= 0xff
				h.spoilt.Add(1)
			} else {
				h.served.Add(1)
			}
		case claimsReject:
			h.rejected.Add(1)
			if fast {
				if err := send(pp.Message{Type: pp.Reject, Index: m.Index, Begin: m.Begin, Length: m.Length}); err != nil {
					return err
				}
			}
			continue
		}
		if err := send(pp.Message{Type: pp.Piece, Index: m.Index, Begin: m.Begin, Piece: chunk}); err != nil {
			return err
		}
		if h.how == dropPerPiece {
			sentOfPiece[i] += length
			if sentOfPiece[i] >= h.info.Piece(i).Length() {
				h.dropped.Add(1)
				return errDropped
			}
		}
	}
}

// garbage sends messages the protocol does not have, or with the wrong shape, then random
// bytes, and reads until the mount closes the connection.
func (h *hostile) garbage(c net.Conn, w *bufio.Writer) error {
	msg := func(typ byte, payload []byte) {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(1+len(payload)))
		w.Write(b[:])
		w.WriteByte(typ)
		w.Write(payload)
	}
	msg(0x63, []byte("no such message"))                   // unknown type
	msg(byte(pp.Bitfield), []byte{0xff})                   // a bitfield of the wrong length
	msg(byte(pp.Have), []byte{0xff, 0xff, 0xff, 0xff})     // a piece that does not exist
	msg(byte(pp.Piece), []byte{0, 0, 0, 0, 0xff, 0xff, 0}) // a chunk past its piece
	noise := make([]byte, 1<<20)
	rand.Read(noise)
	w.Write(noise)
	if err := w.Flush(); err != nil {
		return err
	}
	_, err := io.Copy(io.Discard, c)
	return err
}

// floodRounds is how many times a requestFlood peer asks for each chunk: with 16 pieces of
// 256 KiB, 15,360 requests, 240 MiB of answers.
const floodRounds = 60

// flood asks for every chunk of the first h.floodPieces pieces floodRounds times over, thousands
// of requests, and reads no answer before it has sent 400. It counts the chunks
// it got in h.served.
func (h *hostile) flood(c net.Conn, send func(pp.Message) error) error {
	if err := send(pp.Message{Type: pp.Interested}); err != nil {
		return err
	}
	readErr := make(chan error, 1)
	gate := make(chan struct{}) // closed once the reader may start
	var openGate sync.Once
	go func() {
		<-gate
		dec := pp.Decoder{R: bufio.NewReader(c), MaxLength: 256 << 10,
			Pool: &sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}}
		for {
			var m pp.Message
			if err := dec.Decode(&m); err != nil {
				readErr <- err
				return
			}
			if m.Type == pp.Piece {
				h.served.Add(1)
				dec.Pool.Put(&m.Piece)
			}
		}
	}()
	for range floodRounds {
		for i := range h.floodPieces {
			for begin := int64(0); begin < h.info.Piece(i).Length(); begin += chunkSize {
				length := min(chunkSize, h.info.Piece(i).Length()-begin)
				if err := send(pp.Message{Type: pp.Request, Index: pp.Integer(i), Begin: pp.Integer(begin), Length: pp.Integer(length)}); err != nil {
					c.Close()
					openGate.Do(func() { close(gate) })
					<-readErr
					return err
				}
				asked := h.requests.Add(1)
				h.bump()
				if asked == 400 {
					openGate.Do(func() { close(gate) })
				}
			}
		}
	}
	openGate.Do(func() { close(gate) })
	return <-readErr
}

// startRead reads a file of the mount in a goroutine. The function it returns waits for the
// read and returns its bytes, failing the test if the read errs or has not returned in limit.
// The goroutine is waited for when the test ends, after the mount m is killed if the read is
// still blocked.
func startRead(t *testing.T, m *proc, path string) func(limit time.Duration) []byte {
	t.Helper()
	type result struct {
		got []byte
		err error
	}
	done := make(chan result, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		got, err := os.ReadFile(path)
		done <- result{got, err}
	}()
	t.Cleanup(func() {
		select {
		case <-finished:
		default:
			m.cmd.Process.Kill() // the kernel fails the blocked read with ENOTCONN
			<-finished
		}
	})
	return func(limit time.Duration) []byte {
		t.Helper()
		select {
		case r := <-done:
			if r.err != nil {
				t.Fatalf("read %s: %v after %d bytes", path, r.err, len(r.got))
			}
			return r.got
		case <-time.After(limit):
			t.Fatalf("read of %s still blocked after %v", path, limit)
			return nil
		}
	}
}

// TestHostilePeers mounts a torrent with an honest seeder and a peer that misbehaves in one
// way, and reads the file: the mount returns exactly the source's bytes, before its
// --read-timeout of a minute gives up (a read that waited that long fails with EIO). The
// hostile peer must have been in the game: it got requests, or connections.
func TestHostilePeers(t *testing.T) {
	for _, tc := range []struct {
		name string
		how  misbehaviour
		// late starts the honest seeder only once the mount has banned the hostile peer,
		// which it was alone with: the ban must not keep the mount from the honest one.
		late bool
		// check asserts what the hostile peer did, and what the mount did about it.
		check func(t *testing.T, h *hostile, m *proc)
	}{
		{"bad chunks", badChunks, false, func(t *testing.T, h *hostile, m *proc) {
			if h.spoilt.Load() == 0 {
				t.Errorf("the mount asked the bad peer for nothing it spoilt (%d requests)", h.requests.Load())
			}
		}},
		{"bad chunks, honest seeder after the ban", badChunks, true, func(t *testing.T, h *hostile, m *proc) {}},
		// Every piece it sends blocks of has blocks from the honest seeder too: a piece that
		// fails has two peers, and anacrolix bans neither for it; smart banning, once the
		// piece passes, finds the blocks that differ (anacrolix patch 90 hashes them only
		// when the piece fails).
		{"bad chunks among good ones, shared pieces", badShared, false, func(t *testing.T, h *hostile, m *proc) {
			if h.spoilt.Load() == 0 {
				t.Errorf("the mount asked the bad peer for nothing it spoilt (%d requests)", h.requests.Load())
			}
		}},
		{"stall mid-piece", stallMidway, false, func(t *testing.T, h *hostile, m *proc) {
			if h.rejected.Load() == 0 {
				t.Errorf("the stalling peer left no request unanswered (%d requests)", h.requests.Load())
			}
		}},
		{"drop after each piece", dropPerPiece, false, func(t *testing.T, h *hostile, m *proc) {
			if h.dropped.Load() == 0 {
				t.Errorf("the peer never sent a whole piece and dropped (%d requests)", h.requests.Load())
			}
		}},
		{"unrequested chunks", unrequested, false, func(t *testing.T, h *hostile, m *proc) {
			if h.spoilt.Load() == 0 {
				t.Errorf("the peer sent no unrequested chunk (%d requests)", h.requests.Load())
			}
		}},
		{"claims all, never serves", claimsIgnore, false, func(t *testing.T, h *hostile, m *proc) {
			if h.rejected.Load() == 0 {
				t.Errorf("the mount asked the lying peer for nothing")
			}
		}},
		{"claims all, rejects", claimsReject, false, func(t *testing.T, h *hostile, m *proc) {
			if h.rejected.Load() == 0 {
				t.Errorf("the mount asked the lying peer for nothing")
			}
		}},
		{"garbage messages", garbage, false, func(t *testing.T, h *hostile, m *proc) {
			if h.handshakes.Load() == 0 || h.closedByUs.Load() == 0 {
				t.Errorf("the mount did not close the garbage peer's connection (%d handshakes, %d closed)", h.handshakes.Load(), h.closedByUs.Load())
			}
		}},
		{"huge length prefix", hugeLength, false, func(t *testing.T, h *hostile, m *proc) {
			if h.handshakes.Load() == 0 || h.closedByUs.Load() == 0 {
				t.Errorf("the mount did not close the peer's connection (%d handshakes, %d closed)", h.handshakes.Load(), h.closedByUs.Load())
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := fetchtest.Payload(4<<20+12345, 15)
			sw := fetchtest.NewSwarm(t, "f.bin", []fetchtest.File{{Data: data}}, 256<<10)
			honest := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			if !tc.late {
				sw.StartSeederConfig(t, fetch.Config{ListenAddr: honest})
			}
			h := newHostile(t, sw.TorrentPath, data, tc.how)
			mnt := t.TempDir()
			m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--read-timeout", "60s", "--log-level", "debug",
				"--peer", h.addr, "--peer", honest, sw.TorrentPath, mnt}, loopback...)...)
			m.waitReady(t)
			read := startRead(t, m, filepath.Join(mnt, "f.bin"))
			if tc.late {
				// The peer, alone, sent a piece that failed its hash, and was banned: the
				// mount dropped it.
				waitStatus(t, mnt, banned(h))
				sw.StartSeederConfig(t, fetch.Config{ListenAddr: honest})
			}
			got := read(2 * time.Minute)
			if !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes that differ from the source's %d", len(got), len(data))
			}
			if tc.how == badChunks || tc.how == badShared {
				// A piece the bad peer sent alone fails and bans it; one it sent blocks of
				// with the honest seeder fails, and once it passes, smart banning finds its
				// blocks.
				waitStatus(t, mnt, banned(h))
			}
			tc.check(t, h, m)
			t.Logf("hostile peer: %d handshakes, %d requests, %d served, %d spoilt, %d unanswered, %d dropped, %d closed by the mount",
				h.handshakes.Load(), h.requests.Load(), h.served.Load(), h.spoilt.Load(), h.rejected.Load(), h.dropped.Load(), h.closedByUs.Load())
			if code := m.stop(t, syscall.SIGINT); code != 0 {
				t.Fatalf("mount: exit %d", code)
			}
		})
	}
}

// banned is a status condition: a piece failed its hash and the hostile peer h is off the
// peer list, banned.
func banned(h *hostile) func(status.Report) bool {
	return anyTorrent(func(tr status.Torrent) bool {
		return tr.HashFailures > 0 && !slices.ContainsFunc(tr.PeerList, func(p fetch.Peer) bool { return p.Addr == h.addr })
	})
}

// rssSampler records the highest VmRSS and RssAnon of a process, read every 20 ms until
// stop is called.
type rssSampler struct {
	rss, anon atomic.Int64 // bytes
	stop      func()
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{}
	quit, done := make(chan struct{}), make(chan struct{})
	take := func() {
		if v := procStatus(pid, "VmRSS:"); v > s.rss.Load() {
			s.rss.Store(v)
		}
		if v := procStatus(pid, "RssAnon:"); v > s.anon.Load() {
			s.anon.Store(v)
		}
	}
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			take()
			select {
			case <-quit:
				return
			case <-tick.C:
			}
		}
	}()
	s.stop = func() { close(quit); <-done }
	return s
}

// TestHostileFloods floods a mount: hundreds of incoming connections that handshake and
// idle, and one peer asking for thousands of chunks of pieces the mount holds, without
// reading the answers for a while. The mount still serves a read, from an honest seeder, with
// the source's bytes before its --read-timeout, and its memory stays under a bound.
func TestHostileFloods(t *testing.T) {
	// Measured at the peak of the floods: VmRSS 53 MiB with 400 idle connections, 73 MiB
	// with 15,360 requests (RssAnon 17 and 40 MiB). The bound leaves room for that, and a
	// mount that answered the requests into its memory (240 MiB) would go over it.
	const rssBound = 200 << 20
	for _, tc := range []struct {
		name  string
		flood func(t *testing.T, h *hostile, mountAddr string)
		check func(t *testing.T, h *hostile)
	}{
		{"idle connections", func(t *testing.T, h *hostile, mountAddr string) {
			const n = 400
			for range n {
				if err := h.dial(mountAddr); err != nil {
					t.Fatal(err)
				}
			}
			// Wait until the mount has answered every connection: with a handshake, or by
			// closing it.
			h.waitUntil(t, func() bool { return h.handshakes.Load()+h.closedByUs.Load() >= n }, func() string {
				return fmt.Sprintf("of %d connections, %d handshaken and %d closed", n, h.handshakes.Load(), h.closedByUs.Load())
			})
		}, func(t *testing.T, h *hostile) {
			h.mu.Lock()
			open := len(h.conns)
			h.mu.Unlock()
			t.Logf("idle flood: %d handshakes, %d closed by the mount, %d open", h.handshakes.Load(), h.closedByUs.Load(), open)
			if open > 60 {
				t.Errorf("the mount keeps %d idle connections open, more than anacrolix's 50 per torrent and a margin", open)
			}
		}},
		{"requests", func(t *testing.T, h *hostile, mountAddr string) {
			if err := h.dial(mountAddr); err != nil {
				t.Fatal(err)
			}
			// Wait until the mount has taken every request: answers for all of them would
			// be more than the memory bound.
			total := int64(floodRounds * h.floodPieces * (256 << 10) / chunkSize)
			h.waitUntil(t, func() bool { return h.requests.Load() >= total }, func() string {
				return fmt.Sprintf("the flooding peer sent %d requests, got %d chunks, %d closed", h.requests.Load(), h.served.Load(), h.closedByUs.Load())
			})
		}, func(t *testing.T, h *hostile) {
			t.Logf("request flood: %d requests, %d chunks received", h.requests.Load(), h.served.Load())
			if h.handshakes.Load() != 1 {
				t.Errorf("the flooding peer's connection was refused")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := fetchtest.Payload(4<<20+12345, 16), fetchtest.Payload(3<<20+777, 17)
			sw := fetchtest.NewSwarm(t, "d", []fetchtest.File{{Path: []string{"a.bin"}, Data: a}, {Path: []string{"b.bin"}, Data: b}}, 256<<10)
			_, honest := sw.StartSeeder(t)
			h := newHostile(t, sw.TorrentPath, append(bytes.Clone(a), b...), idle)
			mnt := t.TempDir()
			m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--read-timeout", "60s", "--log-level", "debug",
				"--peer", honest, sw.TorrentPath, mnt}, loopback...)...)
			m.waitReady(t)
			mountAddr := m.listenAddr(t)
			// The mount holds a.bin's pieces; the flooding peer asks for those.
			if got := startRead(t, m, filepath.Join(mnt, "d", "a.bin"))(2 * time.Minute); !bytes.Equal(got, a) {
				t.Fatalf("a.bin: %d bytes differ from the source's %d", len(got), len(a))
			}
			h.floodPieces = int(int64(len(a)) / sw.Info.PieceLength)
			if tc.name == "requests" {
				h.how = requestFlood
			}
			rss := sampleRSS(m.cmd.Process.Pid)
			tc.flood(t, h, mountAddr)
			got := startRead(t, m, filepath.Join(mnt, "d", "b.bin"))(2 * time.Minute)
			rss.stop()
			if !bytes.Equal(got, b) {
				t.Fatalf("b.bin: %d bytes differ from the source's %d", len(got), len(b))
			}
			tc.check(t, h)
			t.Logf("mount's peak memory during the flood: VmRSS %d MiB, RssAnon %d MiB", rss.rss.Load()>>20, rss.anon.Load()>>20)
			if rss.rss.Load() > rssBound {
				t.Errorf("the mount's VmRSS reached %d MiB, over the bound of %d MiB", rss.rss.Load()>>20, rssBound>>20)
			}
			if code := m.stop(t, syscall.SIGINT); code != 0 {
				t.Fatalf("mount: exit %d", code)
			}
		})
	}
}

// controlClientName is what a controlName peer calls itself: a screen clear, a bell and a
// right-to-left override, over and over, 60 KiB.
var controlClientName = strings.Repeat("\x1b[2J\a\u202e", 60<<10/8)

// TestHostileClientName: a peer that names itself with 60 KiB of terminal controls shows in
// status escaped and cut short, and nothing raw reaches the terminal or the log.
func TestHostileClientName(t *testing.T) {
	tor, data, _ := swarm(t, "f.bin", 1<<20+3)
	h := newHostile(t, tor, data, controlName)
	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "-v", "--cache-dir", t.TempDir(), "--peer", h.addr, tor, mnt}, loopback...)...)
	m.waitReady(t)
	// The mount has the peer's name: it logged it (fetch's ReadExtendedHandshake callback)
	// before anacrolix kept it for status.
	waitStatus(t, mnt, anyTorrent(func(tr status.Torrent) bool {
		return slices.ContainsFunc(tr.PeerList, func(p fetch.Peer) bool {
			return p.Addr == h.addr && strings.HasPrefix(p.Client, controlClientName[:8])
		})
	}))
	// The line naming the peer is what the check of the log below reads: it must be there.
	m.wantLogged(t, "msg=\"a peer says which client it is\" peer="+h.addr)
	code, out, errOut := torrentfs(t, nil, "status", mnt)
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	if strings.ContainsAny(out, "\x1b\a\u202e") {
		t.Errorf("status printed raw terminal controls: %q", out)
	}
	if !strings.Contains(out, `\x1b[2J\x07\u202e`) {
		t.Errorf("status does not show the peer's name escaped:\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 400 {
			t.Errorf("status printed a line of %d bytes: the name is not cut short", len(l))
		}
	}
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
	if strings.ContainsAny(m.output(), "\x1b\a\u202e") { // all of it, the mount ended
		t.Error("the mount's log holds raw terminal controls")
	}
}
