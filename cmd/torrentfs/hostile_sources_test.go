package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
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

// deepBencode is n bytes of nested lists: what killed a mount with a stack overflow.
func deepBencode(n int) []byte { return bytes.Repeat([]byte("l"), n) }

// hostileHTTP is a web server on 127.0.0.1 that answers as a hostile tracker or .torrent host
// would: /deep 10 MB of nested lists, /endless a body with no end, /slow a byte every
// 200 ms, /gzip a gzip bomb (128 MiB of nested lists in 128 KiB), /count a string of 4 GB
// announced in a few bytes. Every handler stops when its client goes, and the server is
// closed when the test ends.
func hostileHTTP(t *testing.T) *httptest.Server {
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	chunk := deepBencode(1 << 20)
	for range 128 {
		zw.Write(chunk)
	}
	zw.Close()
	mux := http.NewServeMux()
	for _, p := range []string{"/deep/", "/deep.torrent"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { w.Write(deepBencode(10 << 20)) })
	}
	mux.HandleFunc("/endless/", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("d5:peers"))
		block := deepBencode(64 << 10)
		for range 1 << 16 { // 4 GiB at most
			if _, err := w.Write(block); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/slow/", func(w http.ResponseWriter, r *http.Request) {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for range 600 { // two minutes at most
			if _, err := w.Write([]byte("l")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
		}
	})
	mux.HandleFunc("/gzip/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(bomb.Bytes())
	})
	mux.HandleFunc("/count/", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("d8:intervali60e5:peers4000000000:abcd"))
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// metadataPeer is a BitTorrent peer on 127.0.0.1 that offers a torrent's metadata (BEP 9) and
// serves, piece by piece, info bytes of its choosing: 10 MB of nested lists (whose hash the
// magnet link names), or a good torrent's info dictionary for another torrent's magnet link,
// which anacrolix took as it was. It is closed when the test ends.
type metadataPeer struct {
	ih     metainfo.Hash
	info   []byte
	addr   string
	served atomic.Int64  // times every piece of the metadata was sent
	first  chan struct{} // closed when it was first
	ln     net.Listener
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool
}

// newMetadataPeer starts a peer that hands out info as the metadata of ih.
func newMetadataPeer(t *testing.T, ih metainfo.Hash, info []byte) *metadataPeer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &metadataPeer{ih: ih, info: info, ln: ln, addr: ln.Addr().String(), conns: map[net.Conn]bool{}, first: make(chan struct{})}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns[c] = true
			p.mu.Unlock()
			p.wg.Go(func() {
				defer c.Close()
				p.serve(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// serve hands the metadata to one connection, piece after piece as they are asked for.
func (p *metadataPeer) serve(c net.Conn) error {
	var id [20]byte
	copy(id[:], "-HO0001-")
	rand.Read(id[8:])
	if _, err := pp.Handshake(context.Background(), c, &p.ih, id, pp.NewPeerExtensionBytes(pp.ExtensionBitLtep)); err != nil {
		return err
	}
	w := bufio.NewWriter(c)
	send := func(m pp.Message) error {
		w.Write(m.MustMarshalBinary())
		return w.Flush()
	}
	const ours = 3 // our ut_metadata id
	err := send(pp.Message{Type: pp.Extended, ExtendedID: pp.HandshakeExtendedID,
		ExtendedPayload: bencode.MustMarshal(pp.ExtendedHandshakeMessage{
			M: map[pp.ExtensionName]pp.ExtensionNumber{pp.ExtensionNameMetadata: ours}, MetadataSize: len(p.info), V: "metadata-peer"})})
	if err != nil {
		return err
	}
	d := pp.Decoder{R: bufio.NewReader(c), MaxLength: 1 << 20}
	var theirs pp.ExtensionNumber
	pieces := (len(p.info) + 16<<10 - 1) / (16 << 10)
	sent := map[int]bool{}
	for {
		var m pp.Message
		if err := d.Decode(&m); err != nil {
			return err
		}
		if m.Type != pp.Extended {
			continue
		}
		switch m.ExtendedID {
		case pp.HandshakeExtendedID:
			var h pp.ExtendedHandshakeMessage
			if bencode.Unmarshal(m.ExtendedPayload, &h) == nil {
				theirs = h.M[pp.ExtensionNameMetadata]
			}
		case ours:
			var req pp.ExtendedMetadataRequestMsg
			if err := bencode.Unmarshal(m.ExtendedPayload, &req); err != nil || req.Type != pp.RequestMetadataExtensionMsgType {
				continue
			}
			begin := req.Piece * 16 << 10
			if begin < 0 || begin >= len(p.info) {
				continue
			}
			payload := bencode.MustMarshal(pp.ExtendedMetadataRequestMsg{Type: pp.DataMetadataExtensionMsgType, Piece: req.Piece, TotalSize: len(p.info)})
			payload = append(payload, p.info[begin:min(begin+16<<10, len(p.info))]...)
			if err := send(pp.Message{Type: pp.Extended, ExtendedID: theirs, ExtendedPayload: payload}); err != nil {
				return err
			}
			if sent[req.Piece] = true; len(sent) == pieces {
				if p.served.Add(1) == 1 {
					close(p.first)
				}
				clear(sent)
			}
		}
	}
}

// mktorrentAnnouncing makes a torrent of a small file of its own, announced to announce.
func mktorrentAnnouncing(t *testing.T, dir, name, announce string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), name)
	os.WriteFile(src, fetchtest.Payload(40<<10+len(name), uint64(len(name))), 0o644)
	tor := filepath.Join(dir, name+".torrent")
	mktorrent(t, tor, src, 15, announce)
	return tor
}

// TestHostileSources mounts a watched directory that holds a good torrent, seeded by aria2
// through opentracker, beside every kind of hostile source: .torrent files of 10 MB of
// nested lists and of an absurd string length, a FIFO and links to /dev/zero, torrents whose HTTP trackers answer with
// nested lists, an endless body, a slow body, a gzip bomb and an absurd count, a magnet
// whose xs= source is nested lists, a magnet whose only peer sends 10 MB of nested lists as
// its metadata, and an add of a URL that serves nested lists. Each gets a log line (or, for
// add, an error) that names it, the mount stays up with its memory bounded, and the good
// torrent reads back the source's bytes.
func TestHostileSources(t *testing.T) {
	for _, p := range []string{"mktorrent", "aria2c", "opentracker"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s not installed: run make deps", p)
		}
	}
	web := hostileHTTP(t)
	watch, seedDir := t.TempDir(), t.TempDir()

	// The good torrent, seeded by aria2 through opentracker.
	files := sampleTree(t, seedDir)
	good := filepath.Join(seedDir, "good.torrent")
	mi := trackedTorrent(t, good, filepath.Join(seedDir, "sample"), 16, atOpentracker(t, nil))
	aria2(t, good, seedDir, "--check-integrity=true", "--seed-ratio=0.0")
	copyFile(t, good, filepath.Join(watch, "good.torrent"))

	// The hostile sources.
	os.WriteFile(filepath.Join(watch, "deep.torrent"), deepBencode(10<<20), 0o644)
	os.WriteFile(filepath.Join(watch, "count.torrent"), []byte("d4:infod6:lengthi1e4:name4000000000:x"), 0o644)
	// Files that are not files: an endless one and one whose open would wait for a writer.
	os.Symlink("/dev/zero", filepath.Join(watch, "zero.torrent"))
	os.Symlink("/dev/zero", filepath.Join(watch, "zero.magnet"))
	if err := syscall.Mkfifo(filepath.Join(watch, "fifo.torrent"), 0o644); err != nil {
		t.Fatal(err)
	}
	trackers := map[string]string{} // torrent file → its tracker's URL
	for _, how := range []string{"deep", "endless", "slow", "gzip", "count"} {
		u := web.URL + "/" + how + "/announce"
		trackers[mktorrentAnnouncing(t, watch, "tracker-"+how, u)] = u
	}
	xsURL := web.URL + "/deep.torrent"
	var xsIH metainfo.Hash
	rand.Read(xsIH[:])
	os.WriteFile(filepath.Join(watch, "xs.magnet"), []byte("magnet:?xt=urn:btih:"+xsIH.HexString()+"&xs="+xsURL+"\n"), 0o644)
	deep := deepBencode(10 << 20)
	peer := newMetadataPeer(t, metainfo.HashBytes(deep), deep)
	os.WriteFile(filepath.Join(watch, "metadata.magnet"), []byte("magnet:?xt=urn:btih:"+peer.ih.HexString()+"&x.pe="+peer.addr+"\n"), 0o644)
	var liarIH metainfo.Hash
	rand.Read(liarIH[:])
	liar := newMetadataPeer(t, liarIH, mi.InfoBytes) // the good torrent's, named "sample"
	os.WriteFile(filepath.Join(watch, "liar.magnet"), []byte("magnet:?xt=urn:btih:"+liar.ih.HexString()+"&x.pe="+liar.addr+"\n"), 0o644)

	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), watch, mnt}, loopback...)...)
	rss := sampleRSS(m.cmd.Process.Pid)
	defer rss.stop()
	m.waitReady(t)

	// Bad .torrent files: refused with the reason, named, as the directory's first scan
	// added its files, before the mount was ready. The warnings are what this checks.
	for _, name := range []string{"deep.torrent", "count.torrent", "zero.torrent", "zero.magnet", "fifo.torrent"} {
		m.wantLogged(t, "level=WARN", name)
	}
	// A torrent is dormant until a file of it is opened: open each to make it announce.
	for tor := range trackers {
		name := strings.TrimSuffix(filepath.Base(tor), ".torrent")
		f, err := os.Open(filepath.Join(mnt, name))
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		f.Close()
	}
	// Each hostile tracker's and the xs= URL's failure is shown in status, and told in the
	// log, naming it: what this checks.
	failing := func(trs []fetch.Tracker, u string) bool {
		return slices.ContainsFunc(trs, func(tr fetch.Tracker) bool { return tr.URL == u && tr.Error != "" })
	}
	for _, u := range trackers {
		waitStatus(t, mnt, anyTorrent(func(tr status.Torrent) bool { return failing(tr.Trackers, u) }))
		m.wantLogged(t, "tracker announce failed", "tracker="+u)
	}
	waitStatus(t, mnt, anyTorrent(func(tr status.Torrent) bool {
		return tr.InfoHash == xsIH.HexString() && tr.Sources != nil &&
			slices.ContainsFunc(tr.Sources.URLs, func(s fetch.Source) bool { return s.URL == xsURL && s.Error != "" })
	}))
	m.wantLogged(t, xsURL)
	for _, p := range []*metadataPeer{peer, liar} {
		select {
		case <-p.first:
		case <-m.done:
			t.Fatalf("mount died:\n%s", m.output())
		case <-time.After(time.Minute):
			t.Fatal("the mount did not fetch a metadata peer's metadata in a minute")
		}
	}
	// Bad metadata is refused and the user told why, in status (the magnet link stays
	// pending, its last refusal shown) and in the log: what this checks.
	for ih, why := range map[metainfo.Hash]string{
		liarIH:  "error completing metadata: error setting info bytes: info bytes do not hash",
		peer.ih: "error completing metadata: error setting info bytes: info bytes: bencode nested too deep",
	} {
		r := waitStatus(t, mnt, anyTorrent(func(tr status.Torrent) bool {
			return tr.InfoHash == ih.HexString() && tr.Sources != nil && tr.Sources.Error != ""
		}))
		for _, tr := range r.Torrents {
			if tr.InfoHash == ih.HexString() && (tr.Name != "" || !strings.Contains(tr.Sources.Error, "info bytes")) {
				t.Errorf("magnet link %s: status %+v: want it pending, its metadata refused", ih.HexString(), tr)
			}
		}
		m.wantLogged(t, ih.HexString()+": "+why)
	}
	// `torrentfs status` tells the same of the pending magnet links.
	code, out, errOut := torrentfs(t, nil, "status", mnt)
	for _, want := range []string{"awaiting: metadata of " + xsIH.HexString() + "\nsources:  0 peers, 1 URLs, 0 trackers\n  " + xsURL + ": last error: ",
		"awaiting: metadata of " + liarIH.HexString() + "\nsources:  1 peers, 0 URLs, 0 trackers\nrefused:  " + liar.addr + ": "} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("status: exit %d (%s), no %q:\n%s", code, errOut, want, out)
		}
	}
	t.Logf("status:\n%s", out)

	// A URL given to add: the same checks, an error that says why, exit 1.
	code, _, stderr := torrentfs(t, nil, "add", mnt, web.URL+"/deep.torrent")
	if code != 1 || !strings.Contains(stderr, "nested too deep") {
		t.Errorf("add of a URL of nested lists: exit %d, %q; want 1 and the reason", code, stderr)
	}

	// The mount is still up, the good torrent reads back the source's bytes, and the liar's
	// magnet link got none of its metadata: one entry named sample.
	checkTree(t, mnt, files)
	samples := 0
	for _, e := range entries(t, mnt) {
		if strings.HasPrefix(e, "sample") {
			samples++
		}
	}
	if samples != 1 {
		t.Errorf("the mount lists %q: a second sample came from the lying peer", entries(t, mnt))
	}
	if hwm := procStatus(m.cmd.Process.Pid, "VmHWM:"); hwm > 400<<20 {
		t.Errorf("VmHWM %d MiB, want at most 400 MiB", hwm>>20)
	}
	t.Logf("peak VmRSS %d MiB, RssAnon %d MiB; the metadata peer served its 10 MB %d times",
		rss.rss.Load()>>20, rss.anon.Load()>>20, peer.served.Load())
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
	if strings.Contains(m.output(), "stack overflow") || strings.Contains(m.output(), "panic") {
		t.Fatalf("mount log:\n%s", m.output())
	}
}
