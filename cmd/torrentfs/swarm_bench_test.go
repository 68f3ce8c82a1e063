package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// benchSwarmBefore names a git revision whose torrentfs the swarm part also measures, in the
// same run, to compare a change of policy with what came before.
var benchSwarmBefore = flag.String("bench-swarm-before", "", "also run the swarm part with torrentfs built at this git revision")

// benchSwarmRows names the swarm rows to run, to iterate on a few of them. The lone mount,
// which every row compares with, is always run.
var benchSwarmRows = flag.String("bench-swarm-rows", "4,4random,16,third,smallcap", "the swarm rows to run, comma-separated: 4, 4random, 16, third, smallcap")

// swarm: one aria2 seeder and several torrentfs mounts (separate processes and caches)
// reading the same file at once, every peer found through a tracker alone: what the seeder
// uploads, as a multiple of the file, and how long each mount's read takes against a lone
// mount's (issue #15). Run for the binary under test, and for one built at
// -bench-swarm-before if given.
func (r *benchRun) swarm(size int64) {
	src := r.temp()
	name := "swarm.bin"
	writeRandom(r.b, filepath.Join(src, name), int(size))
	base := filepath.Join(r.temp(), "swarm.torrent")
	mktorrent(r.b, base, filepath.Join(src, name), 18, "http://127.0.0.1:1/announce")
	bins := []struct{ label, bin string }{{"", bin}}
	if *benchSwarmBefore != "" {
		bins = append([]struct{ label, bin string }{{" (before: " + *benchSwarmBefore + ")", r.buildAt(*benchSwarmBefore)}}, bins...)
	}
	for _, b := range bins {
		s := &benchSwarm{r: r, bin: b.bin, src: src, name: name, base: base, size: size,
			label: fmt.Sprintf("swarm, %d MiB, aria2 seeder%s", size>>20, b.label)}
		s.run()
	}
}

// buildAt builds torrentfs at a git revision of this repository and returns the binary.
func (r *benchRun) buildAt(rev string) string {
	dir := r.temp()
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		r.b.Fatalf("git rev-parse: %v", err)
	}
	archive := exec.Command("git", "archive", "--format=tar", rev)
	archive.Dir = strings.TrimSpace(string(top))
	untar := exec.Command("tar", "-x", "-C", dir)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		r.b.Fatal(err)
	}
	untar.Stdin = pipe
	if err := untar.Start(); err != nil {
		r.b.Fatal(err)
	}
	var stderr strings.Builder
	archive.Stderr = &stderr
	if err := archive.Run(); err != nil {
		r.b.Fatalf("git archive %s: %v\n%s", rev, err, stderr.String())
	}
	if err := untar.Wait(); err != nil {
		r.b.Fatalf("untar %s: %v", rev, err)
	}
	out := filepath.Join(r.temp(), "torrentfs")
	build := exec.Command("go", "build", "-o", out, "./cmd/torrentfs")
	build.Dir = dir
	if msg, err := build.CombinedOutput(); err != nil {
		r.b.Fatalf("build torrentfs at %s: %v\n%s", rev, err, msg)
	}
	r.progress("built torrentfs at %s", rev)
	return out
}

// benchSwarm runs the swarm rows for one torrentfs binary.
type benchSwarm struct {
	r               *benchRun
	bin             string
	src, name, base string // the seeder's directory, the file's name, its torrent
	size            int64
	label           string
}

// swarmNet is one row's swarm: a fresh tracker, the torrent naming it, and an aria2 seeder
// that finds the mounts, and they it, only through the tracker.
type swarmNet struct {
	tor     string
	ih      metainfo.Hash
	tracker int // the tracker's port
	seeder  *aria2Proc
	rpc     int // the seeder's JSON-RPC port
	leeches int // peers that announced they are downloading
}

// newNet starts a tracker and an aria2 seeder for one row.
func (s *benchSwarm) newNet() *swarmNet { return newSwarmNet(s.r.b, s.base, s.src) }

// newSwarmNet starts a tracker for the torrent base and an aria2 seeder of the files in src,
// and returns once the tracker knows of the seeder.
func newSwarmNet(t testing.TB, base, src string) *swarmNet {
	t.Helper()
	mi, err := metainfo.LoadFromFile(base)
	if err != nil {
		t.Fatal(err)
	}
	tport := opentracker(t, mi.HashInfoBytes().HexString())
	mi.Announce = fmt.Sprintf("http://127.0.0.1:%d/announce", tport)
	mi.AnnounceList = nil
	tor := filepath.Join(t.TempDir(), "swarm.torrent")
	writeMetaInfo(t, tor, mi)
	n := &swarmNet{tor: tor, ih: mi.HashInfoBytes(), tracker: tport}
	n.seeder, n.rpc = aria2RPC(t, tor, src, "--check-integrity=true", "--seed-ratio=0.0")
	waitAccepting(t, "aria2c", n.seeder.port, n.seeder.exited)
	// aria2 announces once it has checked the file: a mount that announced before would not
	// hear of it until its next announce.
	n.waitAnnounced(t, 1, 0)
	return n
}

// announced counts a new downloading peer and waits until the tracker knows of it: a peer
// that announces before it would not hear of it.
func (n *swarmNet) announced(t testing.TB) {
	n.leeches++
	n.waitAnnounced(t, 0, n.leeches)
}

// waitAnnounced waits until the tracker knows of at least seeders complete and leeches
// incomplete peers of the torrent, from its scrape.
func (n *swarmNet) waitAnnounced(t testing.TB, seeders, leeches int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		f := scrape(t, n.tracker, n.ih)
		if f.Complete >= seeders && f.Incomplete >= leeches {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tracker knows of %d seeders and %d leechers after 30 s, want %d and %d", f.Complete, f.Incomplete, seeders, leeches)
		}
		time.Sleep(20 * time.Millisecond) // polling the tracker
	}
}

// urlQueryEscape escapes every byte of b for a URL query, as trackers expect info-hashes.
func urlQueryEscape(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, "%%%02x", c)
	}
	return sb.String()
}

// stop stops the row's seeder (the tracker stops with the benchmark).
func (n *swarmNet) stop() {
	n.seeder.cmd.Process.Kill()
	<-n.seeder.exited
}

// aria2RPC runs aria2 (the aria2 helper) with its JSON-RPC interface on 127.0.0.1, and
// returns it and the RPC port.
func aria2RPC(t testing.TB, tor, dir string, args ...string) (*aria2Proc, int) {
	rpc := freePort(t)
	a := aria2(t, tor, dir, append(args, "--enable-rpc=true", "--rpc-listen-all=false", fmt.Sprintf("--rpc-listen-port=%d", rpc))...)
	waitAccepting(t, "aria2c rpc", rpc, a.exited)
	return a, rpc
}

// aria2Transfer returns what aria2's one download has uploaded and verified so far, from its
// JSON-RPC interface.
func aria2Transfer(t testing.TB, rpc int) (uploaded, completed int64) {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":"1","method":"aria2.tellActive","params":[["uploadLength","completedLength"]]}`
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/jsonrpc", rpc), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("aria2 rpc: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Result []struct {
			UploadLength    string `json:"uploadLength"`
			CompletedLength string `json:"completedLength"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Result) != 1 {
		t.Fatalf("aria2 rpc: %v, %d downloads", err, len(out.Result))
	}
	up, err1 := strconv.ParseInt(out.Result[0].UploadLength, 10, 64)
	done, err2 := strconv.ParseInt(out.Result[0].CompletedLength, 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatalf("aria2 rpc: %v", err)
	}
	return up, done
}

// swarmMount is a torrentfs mount of a swarm row, with its HTTP API.
type swarmMount struct {
	p   *proc
	mnt string
	api string
}

// swarmStats are a mount's numbers for the torrent, from its JSON API.
type swarmStats struct {
	Peers      int   `json:"peers"`
	Downloaded int64 `json:"downloaded"`
	Uploaded   int64 `json:"uploaded"`
	Cached     int64 `json:"cached"`
}

func (m *swarmMount) stats(t testing.TB) swarmStats {
	t.Helper()
	resp, err := http.Get(m.api + "/api/torrents")
	if err != nil {
		t.Fatalf("mount api: %v", err)
	}
	defer resp.Body.Close()
	var ts []swarmStats
	if err := json.NewDecoder(resp.Body).Decode(&ts); err != nil || len(ts) != 1 {
		t.Fatalf("mount api: %v, %d torrents", err, len(ts))
	}
	return ts[0]
}

// mount starts a mount of the row's torrent with a fresh cache and no --peer: it finds the
// swarm through the tracker.
func (s *benchSwarm) mount(n *swarmNet, extra ...string) *swarmMount {
	mnt := s.r.temp()
	api := fmt.Sprintf("127.0.0.1:%d", freePort(s.r.b))
	args := append([]string{"mount", "--cache-dir", s.r.temp(), "--http", api, n.tor, mnt}, loopback...)
	args = append(args, extra...)
	cmd := exec.Command(s.bin, args...)
	p := startReady(s.r.b, cmd, func() { detachIfMounted(args) })
	p.waitReady(s.r.b)
	n.announced(s.r.b)
	return &swarmMount{p: p, mnt: mnt, api: "http://" + api}
}

func (s *benchSwarm) unmount(ms []*swarmMount) {
	for _, m := range ms {
		unmount(s.r.b, m.p)
	}
}

// checkMesh fails unless every mount is connected to at least want peers: the mounts found
// each other through the tracker and accepted each other's connections. (A mount dials the
// peers the tracker gave it only once it wants a piece: when a file is opened.)
func (s *benchSwarm) checkMesh(ms []*swarmMount, want int) {
	for _, m := range ms {
		if st := m.stats(s.r.b); st.Peers < want {
			s.r.b.Fatalf("mount %s: %d peers, want %d: the swarm did not form through the tracker", m.mnt, st.Peers, want)
		}
	}
}

// readAll reads the whole file through every mount at once, each from the start or in its own
// random order of 4 MiB blocks, and returns each mount's time and the time until all ended.
func (s *benchSwarm) readAll(ms []*swarmMount, random bool) ([]time.Duration, time.Duration) {
	times := make([]time.Duration, len(ms))
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	t0 := time.Now()
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			times[i], errs[i] = readWhole(filepath.Join(m.mnt, s.name), s.size, random, uint64(i))
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	if err := errors.Join(errs...); err != nil {
		s.r.b.Fatal(err)
	}
	return times, wall
}

// readWhole reads a file of size bytes with 1 MiB reads, from the start or in a random order
// of 4 MiB blocks (seeded by seed), and returns how long it took.
func readWhole(path string, size int64, random bool, seed uint64) (time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	const block = 4 << 20
	order := make([]int64, (size+block-1)/block)
	for i := range order {
		order[i] = int64(i) * block
	}
	if random {
		rand.New(rand.NewPCG(seed, 15)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	buf := make([]byte, 1<<20)
	t0 := time.Now()
	for _, off := range order {
		for end := min(off+block, size); off < end; {
			n, err := f.ReadAt(buf[:min(end-off, int64(len(buf)))], off)
			if err != nil && err != io.EOF {
				return 0, fmt.Errorf("read %s at %d: %w", path, off, err)
			}
			if n == 0 {
				return 0, fmt.Errorf("read %s at %d: no data", path, off)
			}
			off += int64(n)
		}
	}
	return time.Since(t0), nil
}

func (s *benchSwarm) run() {
	r := s.r
	r.progress("profile %s", s.label)
	// The lone mount: the baseline of every row.
	lone := map[bool]time.Duration{}
	for _, random := range []bool{false, true} {
		n := s.newNet()
		m := s.mount(n)
		times, _ := s.readAll([]*swarmMount{m}, random)
		lone[random] = times[0]
		up, _ := aria2Transfer(r.b, n.rpc)
		s.unmount([]*swarmMount{m})
		n.stop()
		how := "from the start"
		if random {
			how = "in random 4 MiB blocks"
		}
		r.add(benchRow{s.label, "a lone mount reads the file " + how, mibps(s.size, lone[random]),
			"", "", "", true})
		r.add(benchRow{s.label, "  its seeder's upload", s.copies(up), "", "", "", true})
	}
	rows := strings.Split(*benchSwarmRows, ",")
	if slices.Contains(rows, "4") {
		s.together(4, false, lone[false], 1.2)
	}
	if slices.Contains(rows, "4random") {
		s.together(4, true, lone[true], 1.2)
	}
	if slices.Contains(rows, "16") {
		s.together(16, false, lone[false], 1.5)
	}
	if slices.Contains(rows, "third") {
		s.thirdParty(lone[false])
	}
	if slices.Contains(rows, "smallcap") {
		s.smallCap()
	}
}

// copies writes bytes sent as a multiple of the file.
func (s *benchSwarm) copies(n int64) string {
	return fmt.Sprintf("%.2f copies (%d MiB)", float64(n)/float64(s.size), n>>20)
}

// together: n mounts read the file at once.
func (s *benchSwarm) together(n int, random bool, lone time.Duration, maxCopies float64) {
	r := s.r
	net := s.newNet()
	defer net.stop()
	var ms []*swarmMount
	for range n {
		ms = append(ms, s.mount(net))
	}
	defer s.unmount(ms)
	times, wall := s.readAll(ms, random)
	s.checkMesh(ms, n-1)
	up, _ := aria2Transfer(r.b, net.rpc)
	how := "from the start"
	if random {
		how = "in random 4 MiB blocks"
	}
	s.rows(fmt.Sprintf("%d mounts read the file at once, %s", n, how), ms, times, wall, lone, up, maxCopies)
}

// rows adds a row for the seeder's upload and one for the mounts' read times.
func (s *benchSwarm) rows(what string, ms []*swarmMount, times []time.Duration, wall, lone time.Duration, up int64, maxCopies float64) {
	r := s.r
	var down, shared int64
	for _, m := range ms {
		st := m.stats(r.b)
		down += st.Downloaded
		shared += st.Uploaded
	}
	r.add(benchRow{s.label, what + ": the seeder's upload", s.copies(up),
		fmt.Sprintf("1 copy (ideal); the mounts received %d MiB, sent each other %d MiB", down>>20, shared>>20),
		"", fmt.Sprintf("≤ %.1f copies", maxCopies), float64(up) <= maxCopies*float64(s.size)})
	slices.Sort(times)
	agg := float64(len(ms)) * float64(lone) / float64(wall)
	r.add(benchRow{s.label, what + ": each mount's read time, median / slowest",
		fmt.Sprintf("%.1f s / %.1f s", times[len(times)/2].Seconds(), times[len(times)-1].Seconds()),
		fmt.Sprintf("%.1f s (a lone mount)", lone.Seconds()),
		fmt.Sprintf("together %.2f× a lone mount's rate", agg), "together ≥ 1.0×", agg >= 1})
}

// thirdParty: 2 mounts, an aria2 leecher and a Transmission leecher download at once.
func (s *benchSwarm) thirdParty(lone time.Duration) {
	r := s.r
	net := s.newNet()
	defer net.stop()
	leech, rpc := aria2RPC(r.b, net.tor, r.temp(), "--seed-ratio=0.0")
	defer func() { leech.cmd.Process.Kill(); <-leech.exited }()
	net.announced(r.b)
	tr, _ := transmission(r.b, net.tor, r.temp())
	defer func() { tr.cmd.Process.Kill(); <-tr.done }()
	net.announced(r.b)
	ms := []*swarmMount{s.mount(net), s.mount(net)}
	defer s.unmount(ms)
	times, wall := s.readAll(ms, false)
	s.checkMesh(ms, 1)
	tr.waitFor(r.b, "Seeding")
	deadline := time.Now().Add(time.Minute)
	for {
		if _, done := aria2Transfer(r.b, rpc); done == s.size {
			break
		}
		if time.Now().After(deadline) {
			r.b.Fatal("the aria2 leecher did not finish in a minute after the mounts")
		}
		time.Sleep(50 * time.Millisecond) // polling aria2's counter
	}
	up, _ := aria2Transfer(r.b, net.rpc)
	s.rows("2 mounts, an aria2 and a Transmission leecher at once, from the start", ms, times, wall, lone, up, 1.5)
}

// smallCap: a mount whose cache holds a quarter of the file reads it all, alone with the
// seeder; then, the seeder gone, an aria2 leecher gets from it what it still holds.
func (s *benchSwarm) smallCap() {
	r := s.r
	net := s.newNet()
	capSize := max(64<<20, s.size/4)
	m := s.mount(net, "--cache-max-size", strconv.FormatInt(capSize, 10))
	defer s.unmount([]*swarmMount{m})
	s.readAll([]*swarmMount{m}, false)
	st := m.stats(r.b)
	net.stop()
	what := fmt.Sprintf("a mount with a %d MiB cache reads the file", capSize>>20)
	r.add(benchRow{s.label, what + ": what it downloaded", s.copies(st.Downloaded), "1 copy: no piece twice", "",
		"≤ 1.05 copies", float64(st.Downloaded) <= 1.05*float64(s.size)})

	leech, rpc := aria2RPC(r.b, net.tor, r.temp(), "--seed-ratio=0.0")
	defer func() { leech.cmd.Process.Kill(); <-leech.exited }()
	deadline := time.Now().Add(time.Minute)
	var got int64
	for got < st.Cached && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // polling aria2's counter
		_, got = aria2Transfer(r.b, rpc)
	}
	r.add(benchRow{s.label, what + ", then the seeder leaves: an aria2 leecher gets what it holds",
		fmt.Sprintf("%d MiB", got>>20), fmt.Sprintf("%d MiB held", st.Cached>>20), "", "all of it", got >= st.Cached})
}
