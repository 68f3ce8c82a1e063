package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
)

var benchCompare = flag.String("bench-compare", "", "firstcontact: also measure this torrentfs binary (an earlier build), mount by mount in turn with this one")

// fcMounts is how many fresh mounts each first-contact figure is taken over.
const fcMounts = 5

// fcBuild is a torrentfs binary the first-contact part measures.
type fcBuild struct{ name, bin string }

// fcSwarm is the third-party swarm of the first-contact part: one torrent (a 512 MiB file
// and two films) seeded by Transmission and aria2, which announce to a tracker.
type fcSwarm struct {
	dir     string
	tor     string // announces to the tracker that names both seeders
	ih      metainfo.Hash
	size    int64 // of big.bin
	seeders []int // the seeders' peer ports
	tracker int   // the port of the tracker that names them
	rnd     *rand.Rand
}

// firstContact: issue #13's first contact on a fresh mount, in a swarm of other clients
// found only through a tracker: opentracker, Transmission and aria2 seeding, no --peer.
// Each figure is taken over fcMounts fresh mounts (a fresh cache each), p50 and worst, next
// to baselines from the same run: a plain anacrolix leecher's time to its first verified
// piece from the same swarm, and aria2's download of the torrent. For each first read the
// mount's record of its first contact (status --json, fetch.FirstContact) is printed, and
// its medians are kept in the report. Then the realistic profile: each seeder behind its own
// shaping proxy (20 MiB/s, 40 ms each way), which a second tracker alone names. Both again
// with a libtorrent seeder added, which answers at once where Transmission and aria2 answer
// on their timers (docs/measurements.md). Last, what the plain handshake first saves.
// With -bench-compare BIN, the figures of the swarm are also taken with BIN, mount
// by mount in turn.
func (r *benchRun) firstContact(big string) {
	r.progress("first contact, third-party swarm")
	s := r.fcSwarm(big)
	builds := []fcBuild{{"this build", bin}}
	if *benchCompare != "" {
		builds = append(builds, fcBuild{"before (" + filepath.Base(*benchCompare) + ")", *benchCompare})
	}

	// Baselines: a plain anacrolix client's first verified piece, and aria2's whole download.
	// The default configuration, and with header obfuscation (MSE) tried second, in turn.
	var raws, plains []time.Duration
	for range fcMounts {
		raws = append(raws, r.rawFirstPiece(s, s.tor, nil))
		plains = append(plains, r.rawFirstPiece(s, s.tor, func(cfg *torrent.ClientConfig) {
			cfg.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: false, RequirePreferred: false}
		}))
	}
	raw := fcStats(raws)
	r.add(benchRow{"first contact, baseline", "plain anacrolix leecher (tracker, default config): first verified piece, p50 / worst of 5",
		raw.String(), "", "", "", true})
	r.add(benchRow{"first contact, baseline", "plain anacrolix leecher, plain BitTorrent handshake first (MSE second): first verified piece, p50 / worst of 5",
		fcStats(plains).String(), raw.String() + " (default config)", "", "", true})
	r.fcArrive(s, s.seeders)
	n, d := r.aria2Download(s.tor)
	r.add(benchRow{"first contact, baseline", "aria2 leecher: whole torrent from the same swarm", mibps(n, d), "", "", "", true})

	r.fcUnlimited("first contact, unlimited", s, s.seeders, builds, raw.String()+" (anacrolix first piece)")
	r.fcRealistic("first contact, realistic", s, s.seeders, builds)

	// The same with a libtorrent seeder added, which answers as soon as a peer connects:
	// what a fresh mount does when one seeder has no timers.
	lpTracker := opentracker(r.b, s.ih.HexString())
	tor := filepath.Join(r.temp(), "libtorrent.torrent")
	mktorrent(r.b, tor, s.dir, 18, fmt.Sprintf("http://127.0.0.1:%d/announce", lpTracker))
	lt, ltPort := libtorrent(r.b, tor, filepath.Dir(s.dir))
	lt.waitFor(r.b, "seeding")
	announceAs(r.b, s.tracker, s.ih, ltPort, "-PX0000-libtorrent00")
	r.fcWaitSeeders(s.tracker, s.ih, 3)
	withLT := append(slices.Clone(s.seeders), ltPort)
	r.fcUnlimited("first contact, unlimited, libtorrent seeding too", s, withLT, builds[:1], "")
	r.fcRealistic("first contact, realistic, libtorrent seeding too", s, withLT, builds[:1])

	r.fcEncryption(s)
}

// fcUnlimited takes issue #13's figures on fresh mounts of each build, seeders (their
// ports) found through the tracker, and adds their rows under label next to baseline.
func (r *benchRun) fcUnlimited(label string, s fcSwarm, seeders []int, builds []fcBuild, baseline string) {
	type figure struct {
		measure string
		run     func(mnt string) time.Duration
		p50, mx time.Duration // targets
	}
	file := func(mnt, name string) string { return filepath.Join(mnt, filepath.Base(s.dir), name) }
	rnd := rand.New(rand.NewPCG(13, 13))
	figures := []figure{
		{"first 64 KiB at offset 0, right after the listing", func(mnt string) time.Duration {
			if _, err := os.ReadDir(filepath.Join(mnt, filepath.Base(s.dir))); err != nil {
				r.b.Fatal(err)
			}
			return timeRead(r.b, file(mnt, "big.bin"), 0, 64<<10)
		}, 100 * time.Millisecond, 250 * time.Millisecond},
		{"first random 64 KiB read", func(mnt string) time.Duration {
			return timeRead(r.b, file(mnt, "big.bin"), rnd.Int64N(s.size-64<<10), 64<<10)
		}, 100 * time.Millisecond, 100 * time.Millisecond},
		{"ffprobe, MP4 index at the end", func(mnt string) time.Duration { return timeCmd(r.b, fcProbe(file(mnt, "end.mp4"))) },
			300 * time.Millisecond, 300 * time.Millisecond},
		{"ffprobe, MP4 index at the start", func(mnt string) time.Duration { return timeCmd(r.b, fcProbe(file(mnt, "start.mp4"))) },
			300 * time.Millisecond, 300 * time.Millisecond},
		{"seek to 120 s and decode 2 s (ffmpeg)", func(mnt string) time.Duration {
			return timeCmd(r.b, exec.Command("ffmpeg", "-v", "error", "-nostdin", "-ss", "120", "-i", file(mnt, "end.mp4"), "-t", "2", "-f", "null", "-"))
		}, 300 * time.Millisecond, 300 * time.Millisecond},
		{"player start-up (ffmpeg -re, first frame)", func(mnt string) time.Duration {
			return timeCmd(r.b, exec.Command("ffmpeg", "-v", "error", "-nostdin", "-re", "-i", file(mnt, "end.mp4"), "-frames:v", "1", "-f", "null", "-"))
		}, 500 * time.Millisecond, 500 * time.Millisecond},
	}
	for fi, f := range figures {
		times := make([][]time.Duration, len(builds))
		contacts := make([][]fetch.FirstContact, len(builds))
		for range fcMounts {
			for bi, b := range builds {
				mnt, p := r.fcMount(s, seeders, b.bin, s.tor)
				d := f.run(mnt)
				fc := fcContact(r.b, b.bin, mnt)
				unmount(r.b, p)
				times[bi] = append(times[bi], d)
				contacts[bi] = append(contacts[bi], fc)
				r.progress("  %s, %s, %s: %s; %s", label, f.measure, b.name, ms(d), fcLine(fc))
			}
		}
		for bi, b := range builds {
			st := fcStats(times[bi])
			measure := f.measure + ", p50 / worst of 5"
			if len(builds) > 1 {
				measure += ", " + b.name
			}
			r.add(benchRow{label, measure, st.String(), baseline, "",
				fmt.Sprintf("p50 ≤ %s, worst ≤ %s", ms(f.p50), ms(f.mx)), st.p50 <= f.p50 && st.max <= f.mx})
			if fi == 0 {
				r.fcBreakdown(label+", "+b.name, contacts[bi])
			}
		}
	}
}

// fcEncryption: what the plain handshake first saves a first read, measured against a
// seeder with no timers of its own (a torrentfs seeder) behind the realistic profile's
// proxy (40 ms each way), named with --peer: mounts with --encryption allow (the default)
// and prefer (MSE first), in turn.
func (r *benchRun) fcEncryption(s fcSwarm) {
	label := "first contact, realistic, a torrentfs seeder"
	tor := filepath.Join(r.temp(), "swarm.torrent")
	mktorrent(r.b, tor, s.dir, 18, "http://127.0.0.1:1/announce")
	seeder := start(r.b, nil, append([]string{"seed", tor, s.dir}, loopback...)...)
	proxy := shapingProxy(r.b, seeder.seedAddr(r.b), realLatency, realRate)
	modes := []string{"allow", "prefer"}
	times := make([][]time.Duration, len(modes))
	for range fcMounts {
		for i, mode := range modes {
			mnt := r.temp()
			args := append([]string{"mount", "--cache-dir", r.temp(), "--peer", proxy, "--encryption", mode, tor, mnt}, loopback...)
			p := startReady(r.b, exec.Command(bin, args...), func() { detachIfMounted(args) })
			p.waitReady(r.b)
			if _, err := os.ReadDir(filepath.Join(mnt, filepath.Base(s.dir))); err != nil {
				r.b.Fatal(err)
			}
			d := timeRead(r.b, filepath.Join(mnt, filepath.Base(s.dir), "big.bin"), 0, 64<<10)
			fc := fcContact(r.b, bin, mnt)
			unmount(r.b, p)
			times[i] = append(times[i], d)
			r.progress("  %s, --encryption %s: %s; %s", label, mode, ms(d), fcLine(fc))
		}
	}
	plain, mse := fcStats(times[0]), fcStats(times[1])
	r.add(benchRow{label, "first 64 KiB at offset 0, --encryption allow (plain handshake first), p50 / worst of 5", plain.String(),
		mse.String() + " (--encryption prefer: MSE first)", fmt.Sprintf("%.2f", float64(plain.p50)/float64(mse.p50)), "", true})
}

// fcSwarm writes the swarm's files, makes its torrent (mktorrent, 256 KiB pieces) and starts
// opentracker, Transmission and aria2 on it.
func (r *benchRun) fcSwarm(big string) fcSwarm {
	s := fcSwarm{dir: filepath.Join(r.temp(), "swarm")}
	if err := os.Mkdir(s.dir, 0o755); err != nil {
		r.b.Fatal(err)
	}
	if err := os.Link(big, filepath.Join(s.dir, "big.bin")); err != nil {
		r.b.Fatal(err)
	}
	st, err := os.Stat(big)
	if err != nil {
		r.b.Fatal(err)
	}
	s.size = st.Size()
	// 150 s at 1 Mbit/s, about 19 MB (some 75 pieces): long enough to seek to 120 s.
	ffmpeg(r.b, "-y", "-f", "lavfi", "-i", "testsrc2=duration=150:size=480x270:rate=25", "-f", "lavfi", "-i", "sine=duration=150",
		"-c:v", "mpeg4", "-b:v", "1M", "-g", "50", "-c:a", "aac", "-b:a", "64k", "-shortest", filepath.Join(s.dir, "end.mp4"))
	ffmpeg(r.b, "-y", "-i", filepath.Join(s.dir, "end.mp4"), "-c", "copy", "-movflags", "+faststart", filepath.Join(s.dir, "start.mp4"))

	parent := filepath.Dir(s.dir)
	s.tor = filepath.Join(parent, "swarm.torrent")
	mk := func(tor string, announce ...string) {
		os.Remove(tor)
		args := []string{"-l", "18", "-o", tor}
		for _, a := range announce {
			args = append(args, "-a", a)
		}
		if out, err := exec.Command("mktorrent", append(args, s.dir)...).CombinedOutput(); err != nil {
			r.b.Fatalf("mktorrent: %v\n%s", err, out)
		}
	}
	mk(s.tor, "http://127.0.0.1:1/announce") // the info-hash does not depend on the announce URL
	mi, _, err := fetch.LoadTorrentFile(s.tor)
	if err != nil {
		r.b.Fatal(err)
	}
	s.ih = mi.HashInfoBytes()
	s.rnd = rand.New(rand.NewPCG(1, 3))
	// aria2 announces to a tracker of its own, which the bench then announces to
	// Transmission's, the one the mounts' torrent names. Seeders that knew each other would
	// connect, and Transmission keeps one peer an IP address: it would shut out, for 30 s at
	// a time, every mount from 127.0.0.1, as it never would a user with an address of their
	// own.
	announce := func(port int) string { return fmt.Sprintf("http://127.0.0.1:%d/announce", port) }
	tport, a2Tracker := opentracker(r.b, s.ih.HexString()), opentracker(r.b, s.ih.HexString())
	mk(s.tor, announce(tport))
	a2Tor := filepath.Join(parent, "aria2.torrent")
	mk(a2Tor, announce(a2Tracker))

	tr, trPort := transmission(r.b, s.tor, parent)
	a := aria2(r.b, a2Tor, parent, "--check-integrity=true", "--seed-ratio=0.0")
	s.seeders = []int{trPort, a.port}
	waitAccepting(r.b, "aria2c", a.port, a.exited)
	tr.waitFor(r.b, "Seeding")
	r.fcWaitSeeders(tport, s.ih, 1)     // Transmission has announced, and will not again in the bench
	r.fcWaitSeeders(a2Tracker, s.ih, 1) // aria2 has checked its files
	announceAs(r.b, tport, s.ih, a.port, "-PX0000-aria2seeder0")
	r.fcWaitSeeders(tport, s.ih, 2)
	s.tracker = tport
	r.progress("swarm ready: Transmission and aria2 seeding, tracker on port %d", tport)
	return s
}

// fcArrive returns when a new client may come to the swarm as a user's would. First, no
// seeder may still hold a connection of the last client's (on its port at ports): every
// client here is 127.0.0.1, and Transmission keeps one peer an IP address, dropping the
// next unanswered until it has let go of the last one (at its next 500 ms pulse). Then a
// random part of a second: a user's mount comes at any moment of the seeders' timers
// (Transmission reads new peers every 500 ms, aria2 accepts them once a second), but one
// that came right after Transmission let go would come at the same moment of them each
// time, the worst.
func (r *benchRun) fcArrive(s fcSwarm, ports []int) {
	deadline := time.Now().Add(time.Minute)
	for held := fcHeld(r.b, ports); held != ""; held = fcHeld(r.b, ports) {
		if time.Now().After(deadline) {
			r.b.Fatalf("a seeder still holds a connection a minute after its client left: %s", held)
		}
		time.Sleep(10 * time.Millisecond) // polling the kernel's table: nothing tells us
	}
	<-time.After(time.Duration(s.rnd.Int64N(int64(time.Second)))) // a random arrival, not a wait for anything
}

// fcHeld returns the first connection the kernel holds on one of the ports, other than a
// listening socket or one in TIME_WAIT (closed on our side and theirs), or "".
func fcHeld(b *testing.B, ports []int) string {
	for _, s := range tcpSockets(b, "self") {
		if s.state == tcpListen || s.state == tcpTimeWait {
			continue
		}
		_, port, _ := net.SplitHostPort(s.local)
		if p, err := strconv.Atoi(port); err == nil && slices.Contains(ports, p) {
			return fmt.Sprintf("local %s remote %s state %s", s.local, s.remote, s.state)
		}
	}
	return ""
}

// fcWaitSeeders waits until the tracker at port names n seeders of ih: aria2 announces once
// it has checked its files.
func (r *benchRun) fcWaitSeeders(port int, ih metainfo.Hash, n int) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		f := scrape(r.b, port, ih)
		if f.Complete >= n {
			return
		}
		if time.Now().After(deadline) {
			r.b.Fatalf("the tracker names %d seeders, fewer than %d", f.Complete, n)
		}
		time.Sleep(200 * time.Millisecond) // polling a program that cannot tell us
	}
}

// fcMount mounts tor with binary bin and a fresh cache, with no peer named: they come from
// the tracker.
func (r *benchRun) fcMount(s fcSwarm, seeders []int, bin, tor string, peers ...string) (string, *proc) {
	r.fcArrive(s, seeders)
	mnt := r.temp()
	args := append([]string{"mount", "--cache-dir", r.temp(), tor, mnt}, loopback...)
	for _, p := range peers {
		args = append(args, "--peer", p)
	}
	p := startReady(r.b, exec.Command(bin, args...), func() { detachIfMounted(args) })
	p.waitReady(r.b)
	return mnt, p
}

// fcContact returns the first contact the mount at mnt recorded, zero if bin predates it.
func fcContact(b *testing.B, bin, mnt string) fetch.FirstContact {
	out, err := exec.Command(bin, "status", "--json", mnt).Output()
	if err != nil {
		b.Fatalf("status --json: %v", err)
	}
	var ms []struct {
		Torrents []struct {
			FirstContact *fetch.FirstContact `json:"first_contact"`
		} `json:"torrents"`
	}
	if err := json.Unmarshal(out, &ms); err != nil {
		b.Fatalf("status --json: %v", err)
	}
	if len(ms) != 1 || len(ms[0].Torrents) != 1 || ms[0].Torrents[0].FirstContact == nil {
		return fetch.FirstContact{}
	}
	return *ms[0].Torrents[0].FirstContact
}

// fcSteps names the steps of a first contact, in order, and picks each from a record.
var fcSteps = []struct {
	name string
	get  func(fetch.FirstContact) time.Duration
}{
	{"announce sent", func(f fetch.FirstContact) time.Duration { return f.Announce }},
	{"tracker answered", func(f fetch.FirstContact) time.Duration { return f.Answer }},
	{"first dial", func(f fetch.FirstContact) time.Duration { return f.Dial }},
	{"handshake done", func(f fetch.FirstContact) time.Duration { return f.Handshake }},
	{"first message", func(f fetch.FirstContact) time.Duration { return f.Message }},
	{"first unchoke", func(f fetch.FirstContact) time.Duration { return f.Unchoke }},
	{"first request", func(f fetch.FirstContact) time.Duration { return f.Request }},
	{"first chunk", func(f fetch.FirstContact) time.Duration { return f.Chunk }},
	{"first piece verified", func(f fetch.FirstContact) time.Duration { return f.Piece }},
	{"read began", func(f fetch.FirstContact) time.Duration { return f.ReadBegan }},
	{"read returned", func(f fetch.FirstContact) time.Duration { return f.Read }},
}

func fcLine(f fetch.FirstContact) string {
	var parts []string
	for _, s := range fcSteps {
		v := "-"
		if d := s.get(f); d > 0 {
			v = ms(d)
		}
		parts = append(parts, s.name+" "+v)
	}
	if f.From != "" {
		parts = append(parts, "first chunk from "+f.From)
	}
	return strings.Join(parts, ", ")
}

// fcBreakdown adds a row per step of the first reads' first contacts: p50 and worst, in
// time since the torrent started.
func (r *benchRun) fcBreakdown(label string, fcs []fetch.FirstContact) {
	for _, s := range fcSteps {
		var ds []time.Duration
		for _, f := range fcs {
			if d := s.get(f); d > 0 {
				ds = append(ds, d)
			}
		}
		v := "never"
		if len(ds) > 0 {
			v = fcStats(ds).String()
			if len(ds) < len(fcs) {
				v += fmt.Sprintf(" (in %d of %d)", len(ds), len(fcs))
			}
		}
		r.add(benchRow{label + ", breakdown", "since the torrent started: " + s.name + ", p50 / worst", v, "", "", "", true})
	}
}

type fcStat struct{ p50, max time.Duration }

func fcStats(ds []time.Duration) fcStat {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return fcStat{ds[len(ds)/2], ds[len(ds)-1]}
}

func (s fcStat) String() string { return ms(s.p50) + " / " + ms(s.max) }

func fcProbe(path string) *exec.Cmd {
	return exec.Command("ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", path)
}

// timeCmd runs cmd and returns how long it took.
func timeCmd(b *testing.B, cmd *exec.Cmd) time.Duration {
	t0 := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return time.Since(t0)
}

// rawFirstPiece is the baseline: a plain anacrolix client (the default configuration, the
// copy torrentfs builds on) that finds the swarm through the tracker, asked for the first
// piece; it returns the time from adding the torrent to that piece's verification.
func (r *benchRun) rawFirstPiece(s fcSwarm, tor string, tune func(*torrent.ClientConfig)) time.Duration {
	r.fcArrive(s, s.seeders)
	cfg := torrent.NewDefaultClientConfig()
	cfg.DefaultStorage = storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir:   r.temp(),
		PieceCompletion: storage.NewMapPieceCompletion(),
	})
	cfg.ListenHost = func(string) string { return "127.0.0.1" }
	cfg.ListenPort = 0
	cfg.DisableIPv6 = true
	cfg.NoDHT, cfg.NoDefaultPortForwarding, cfg.DisablePEX, cfg.DisableUTP = true, true, true, true
	cfg.Slogger = slog.New(slog.DiscardHandler)
	if tune != nil {
		tune(cfg)
	}
	cl, err := torrent.NewClient(cfg)
	if err != nil {
		r.b.Fatal(err)
	}
	defer cl.Close()
	mi, err := metainfo.LoadFromFile(tor)
	if err != nil {
		r.b.Fatal(err)
	}
	t0 := time.Now()
	t, err := cl.AddTorrent(mi)
	if err != nil {
		r.b.Fatal(err)
	}
	sub := t.SubscribePieceStateChanges()
	defer sub.Close()
	t.Piece(0).SetPriority(torrent.PiecePriorityNow)
	timeout := time.After(time.Minute)
	for {
		select {
		case ch := <-sub.Values:
			if ch.Index == 0 && ch.Complete {
				return time.Since(t0)
			}
		case <-timeout:
			r.b.Fatal("anacrolix: no first piece in a minute")
		}
	}
}

// aria2Download has a fresh aria2c download the whole torrent from the swarm and returns the
// bytes and the time from its start to its exit.
func (r *benchRun) aria2Download(tor string) (int64, time.Duration) {
	_, info := loadTorrent(r.b, tor)
	t0 := time.Now()
	a := aria2(r.b, tor, r.temp(), "--seed-time=0", "--bt-stop-timeout=60")
	if code := a.wait(r.b); code != 0 {
		r.b.Fatalf("aria2c leecher: exit %d", code)
	}
	return info.TotalLength(), time.Since(t0)
}

// fcRealistic: the realistic profile. Each seeder gets its own shaping proxy (20 MiB/s,
// 40 ms each way), and a second tracker names only the proxies (registered by an announce
// made for them, as the seeders' own announces name their real ports); the mounts are given
// a copy of the torrent that announces to that tracker alone.
func (r *benchRun) fcRealistic(label string, s fcSwarm, seeders []int, builds []fcBuild) {
	tport := opentracker(r.b, s.ih.HexString())
	tor := filepath.Join(r.temp(), "swarm.torrent")
	mktorrent(r.b, tor, s.dir, 18, fmt.Sprintf("http://127.0.0.1:%d/announce", tport))
	proxies := slices.Clone(seeders) // where a client's connections are held: the proxies hold the seeders'
	for i, seeder := range seeders {
		proxy := shapingProxy(r.b, fmt.Sprintf("127.0.0.1:%d", seeder), realLatency, realRate)
		_, pp, _ := strings.Cut(proxy, ":")
		var p int
		fmt.Sscan(pp, &p)
		proxies = append(proxies, p)
		announceAs(r.b, tport, s.ih, p, fmt.Sprintf("-PX0000-%012d", i))
	}
	rnd := rand.New(rand.NewPCG(17, 17))
	first := make([][]time.Duration, len(builds))
	random := make([][]time.Duration, len(builds))
	probe := make([][]time.Duration, len(builds))
	contacts := make([][]fetch.FirstContact, len(builds))
	file := func(mnt, name string) string { return filepath.Join(mnt, filepath.Base(s.dir), name) }
	for range fcMounts {
		for bi, b := range builds {
			mnt, p := r.fcMount(s, proxies, b.bin, tor)
			if _, err := os.ReadDir(filepath.Join(mnt, filepath.Base(s.dir))); err != nil {
				r.b.Fatal(err)
			}
			d := timeRead(r.b, file(mnt, "big.bin"), 0, 64<<10)
			fc := fcContact(r.b, b.bin, mnt)
			first[bi] = append(first[bi], d)
			contacts[bi] = append(contacts[bi], fc)
			r.progress("  %s, first byte, %s: %s; %s", label, b.name, ms(d), fcLine(fc))
			for range 4 {
				random[bi] = append(random[bi], timeRead(r.b, file(mnt, "big.bin"), rnd.Int64N(s.size-64<<10), 64<<10))
			}
			unmount(r.b, p)

			mnt, p = r.fcMount(s, proxies, b.bin, tor)
			probe[bi] = append(probe[bi], timeCmd(r.b, fcProbe(file(mnt, "end.mp4"))))
			unmount(r.b, p)
		}
	}
	for bi, b := range builds {
		suffix := ""
		if len(builds) > 1 {
			suffix = ", " + b.name
		}
		st := fcStats(first[bi])
		r.add(benchRow{label, "first 64 KiB at offset 0, right after the listing, p50 / worst of 5" + suffix, st.String(), "", "", "≤ 300 ms", st.max <= 300*time.Millisecond})
		st = fcStats(random[bi])
		r.add(benchRow{label, "random 64 KiB reads after the first, 4 on each of 5 mounts, p50 / worst" + suffix, st.String(),
			ms(2*realLatency) + " (a round trip)", "", "p50 ≤ 100 ms, worst ≤ 400 ms", st.p50 <= 100*time.Millisecond && st.max <= 400*time.Millisecond})
		st = fcStats(probe[bi])
		r.add(benchRow{label, "ffprobe, MP4 index at the end, p50 / worst of 5" + suffix, st.String(), "", "", "≤ 1 s", st.max <= time.Second})
		r.fcBreakdown(label+", "+b.name, contacts[bi])
	}
}
