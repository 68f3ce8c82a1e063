package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/internal/testnet"
)

// The fleet part's sizes, overridable for a quick run while developing.
var (
	benchFleetMiB      = flag.Int("bench-fleet-mib", 512, "size in MiB of the file the fleet part's hosts read")
	benchFleetHosts    = flag.String("bench-fleet-hosts", "8,16", "the fleet part's host counts, comma-separated")
	benchFleetMbit     = flag.Int("bench-fleet-mbit", 128, "the rate of every link of the fleet part, in Mbit/s each way")
	benchFleetOrigins  = flag.String("bench-fleet-origins", "aria2,nginx", "the fleet part's origins, comma-separated: aria2, nginx")
	benchFleetRuns     = flag.String("bench-fleet-runs", "aria2,seq,random,seq-all,random-all,mixed", "the fleet part's runs per row, comma-separated: aria2 (the aria2 fleet), seq, random (the mounts' reads), seq-all, random-all (the same with --prefetch all, as docs/fleet.md sets hosts up), all (--prefetch all and no reads until the whole file is cached), mixed (2 mounts beside an aria2 and a Transmission leecher, aria2 origin, once)")
	benchFleetTimeline = flag.Bool("bench-fleet-timeline", false, "print, every second of the fleet part's runs (the aria2 fleet's too), what the origin sent, what each host received and sent, what the origin's socket to each host sent and held queued, and what each mount had read (a stall shows)")
	benchFleetBefore   = flag.String("bench-fleet-before", "", "also run the fleet part's mounts with torrentfs built at this git revision")
	benchFleetProfiles = flag.String("bench-fleet-profiles", "", "write each fleet mount's pprof CPU profile (TORRENTFS_CPUPROFILE) into this directory, as HOST-RUN.pprof")
	benchFleetNginxLog = flag.String("bench-fleet-nginx-log", "", "write the nginx origin's access log of each fleet run into this directory, as run-N.log: the end time, the host, the range asked, the bytes sent and the request's time (what the origin sent each host, and when)")
	benchFleetArgs     = flag.String("bench-fleet-mount-args", "", "more arguments for every mount of the fleet part, space-separated (e.g. \"--prefetch all\")")
)

// fleetBlock is the read pattern's block: random reads are of 4 MiB blocks, and every host's
// bytes are checked against the source's SHA-1 of each block.
const fleetBlock = 4 << 20

// fleetPort is the port every peer of the fleet listens on, each on its own host.
const fleetPort = 6881

// fleet: issue #25. A test network of hosts (internal/testnet), each on a link shaped to
// -bench-fleet-mbit both ways, and one origin on the same kind of link: an aria2 seeder
// behind opentracker, or nginx as the torrent's only web seed (the tracker then introduces
// the hosts alone). Every host mounts the torrent and reads its one file at once, from the
// start or in its own random order of 4 MiB blocks; the baseline, in the same run, is the
// same hosts downloading with aria2, which keeps seeding as it finishes, as a mount does.
// Per row: the slowest host's time as a multiple of size / link rate, and what the origin
// sent (its link's counters) in copies of the file. Every host's bytes are checked.
func (r *benchRun) fleet() {
	size := int64(*benchFleetMiB) << 20
	rate := int64(*benchFleetMbit) * 1_000_000
	var counts []int
	for _, s := range strings.Split(*benchFleetHosts, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			r.b.Fatalf("-bench-fleet-hosts: bad count %q", s)
		}
		counts = append(counts, n)
	}
	runs := strings.Split(*benchFleetRuns, ",")

	src := r.temp()
	name := "fleet.bin"
	writeRandom(r.b, filepath.Join(src, name), int(size))
	sums := blockSums(r, filepath.Join(src, name))
	base := filepath.Join(r.temp(), "fleet.torrent")
	if out, err := exec.Command("mktorrent", "-l", "18", "-a", "http://127.0.0.1:1/announce", "-o", base, filepath.Join(src, name)).CombinedOutput(); err != nil {
		r.b.Fatalf("mktorrent: %v\n%s", err, out)
	}
	bins := []struct{ label, bin string }{{"", bin}}
	if *benchFleetBefore != "" {
		bins = append(bins, struct{ label, bin string }{" (before: " + *benchFleetBefore + ")", r.buildAt(*benchFleetBefore)})
	}

	n := testnet.New(r.b)
	link := testnet.Link{Rate: rate}
	origin := n.AddHost(r.b, "origin", link)
	var hosts []*testnet.Host
	for i := range slices.Max(counts) {
		hosts = append(hosts, n.AddHost(r.b, fmt.Sprintf("host%d", i+1), link))
	}
	f := &benchFleet{r: r, n: n, origin: origin, src: src, name: name, base: base, size: size, rate: rate, sums: sums}
	ideal := time.Duration(float64(size*8) / float64(rate) * float64(time.Second))
	for _, count := range counts {
		for _, o := range strings.Split(*benchFleetOrigins, ",") {
			if o != "aria2" && o != "nginx" {
				r.b.Fatalf("-bench-fleet-origins: unknown origin %q", o)
			}
			label := fmt.Sprintf("fleet, %d MiB, %d hosts at %d Mbit/s, %s origin", size>>20, count, *benchFleetMbit, o)
			r.progress("profile %s", label)
			var base *fleetResult
			if slices.Contains(runs, "aria2") {
				res := f.run(o, hosts[:count], "", fleetReads{})
				base = &res
				r.add(benchRow{label, "aria2 fleet downloads the torrent: slowest host / origin sent",
					fmt.Sprintf("%s / %s", res.slowest(ideal), res.copies(size)), fmt.Sprintf("%.1f s (size / link rate)", ideal.Seconds()), "", "", true})
			}
			for _, pattern := range []string{"seq", "random", "seq-all", "random-all", "all"} {
				if !slices.Contains(runs, pattern) {
					continue
				}
				reads := fleetReads{random: strings.HasPrefix(pattern, "random"), prefetchAll: strings.HasSuffix(pattern, "all"), none: pattern == "all"}
				how := "from the start"
				if reads.random {
					how = "in random 4 MiB blocks"
				}
				if reads.prefetchAll {
					how += " with --prefetch all"
				}
				if reads.none {
					how = "nothing, --prefetch all fetches it"
				}
				for _, b := range bins {
					res := f.run(o, hosts[:count], b.bin, reads)
					row := benchRow{profile: label, measure: fmt.Sprintf("mounts read %s%s: slowest host / origin sent", how, b.label),
						value: fmt.Sprintf("%s / %s", res.slowest(ideal), res.copies(size)), target: "≤ 1.25× and ≤ aria2's; ≤ 1.1 copies"}
					row.met = res.times[len(res.times)-1] <= ideal*5/4 && float64(res.sent) <= 1.1*float64(size)
					if base != nil {
						row.baseline = fmt.Sprintf("%s / %s (aria2 fleet)", base.slowest(ideal), base.copies(size))
						row.ratio = fmt.Sprintf("%.2f× aria2's time, %.2f× its origin bytes",
							res.times[len(res.times)-1].Seconds()/base.times[len(base.times)-1].Seconds(), float64(res.sent)/float64(base.sent))
						row.met = row.met && res.times[len(res.times)-1] <= base.times[len(base.times)-1]
					}
					r.add(row)
				}
			}
		}
	}
	if slices.Contains(runs, "mixed") && len(hosts) >= 4 {
		f.mixed(hosts[:4], bins)
	}
}

// mixed: issue #25's swarm of mixed clients. Beside an aria2 origin, 2 hosts mount the torrent
// and read it from the start while an aria2 leecher and a Transmission leecher, each on a host
// of its own (Transmission keeps one record per address), download it; all keep seeding until
// every one has it. Rows: what the origin sent (and to whom, from its sockets), and the
// slowest mount's and each leecher's times.
func (f *benchFleet) mixed(hosts []*testnet.Host, bins []struct{ label, bin string }) {
	r := f.r
	ideal := time.Duration(float64(f.size*8) / float64(f.rate) * float64(time.Second))
	label := fmt.Sprintf("fleet, %d MiB, 4 hosts at %d Mbit/s, aria2 origin", f.size>>20, *benchFleetMbit)
	r.progress("profile %s, mixed clients", label)
	for _, b := range bins {
		var to map[netip.Addr]int64
		res := f.against("aria2", func(tor, trackerURL string, ih metainfo.Hash) fleetResult {
			var res fleetResult
			var ls *fleetLeechers
			var stop func() map[netip.Addr]int64
			res.times = f.mountFleet(hosts[:2], tor, b.bin, trackerURL, ih, fleetReads{}, func(reading bool) {
				if reading {
					stop = sentPerPeer(f.origin)
					ls = f.leechers(hosts[2], hosts[3], tor)
					return
				}
				res.others = ls.wait()
				to = stop()
			})
			return res
		})
		var split []string
		for i, who := range []string{"mount", "mount", "aria2", "Transmission"} {
			split = append(split, fmt.Sprintf("%s %.2f", who, float64(to[hosts[i].IPv4])/float64(f.size)))
		}
		r.add(benchRow{profile: label, measure: "2 mounts from the start, an aria2 and a Transmission leecher" + b.label + ": origin sent",
			value: res.copies(f.size), baseline: "its sockets, per peer: " + strings.Join(split, ", "),
			target: "≤ 1.3 copies", met: float64(res.sent) <= 1.3*float64(f.size)})
		r.add(benchRow{profile: label, measure: "  the same: slowest mount / the leechers",
			value:    fmt.Sprintf("%s / aria2 %.1f s, Transmission %.1f s", res.slowest(ideal), res.others[0].Seconds(), res.others[1].Seconds()),
			baseline: fmt.Sprintf("%.1f s (size / link rate)", ideal.Seconds())})
	}
}

// benchFleet is the fleet part's network, file and torrent.
type benchFleet struct {
	r          *benchRun
	n          *testnet.Network
	origin     *testnet.Host
	src, name  string // the origin's directory and the file's name
	base       string // the torrent, naming no tracker yet
	size       int64
	rate       int64
	sums       [][sha1.Size]byte // of each fleetBlock of the file
	mountRuns  int               // fleets of mounts run so far, naming their profiles
	originRuns int               // runs against an origin so far, naming nginx's access logs
}

// fleetResult is one run's each host's time, sorted, and what the origin sent; in a run of
// mixed clients, times are the mounts' and others the aria2 and the Transmission leecher's.
type fleetResult struct {
	times  []time.Duration
	others []time.Duration
	sent   int64
}

func (res fleetResult) slowest(ideal time.Duration) string {
	s := res.times[len(res.times)-1]
	return fmt.Sprintf("%.1f s (%.2f×)", s.Seconds(), s.Seconds()/ideal.Seconds())
}

func (res fleetResult) copies(size int64) string {
	return fmt.Sprintf("%.2f copies", float64(res.sent)/float64(size))
}

// run runs the hosts against a fresh tracker and origin: with aria2 if mountBin is empty,
// else each mounts with mountBin and reads. It checks every host's bytes.
func (f *benchFleet) run(origin string, hosts []*testnet.Host, mountBin string, reads fleetReads) fleetResult {
	return f.against(origin, func(tor, trackerURL string, ih metainfo.Hash) fleetResult {
		if mountBin == "" {
			return fleetResult{times: f.aria2Fleet(hosts, tor)}
		}
		return fleetResult{times: f.mountFleet(hosts, tor, mountBin, trackerURL, ih, reads, nil)}
	})
}

// against starts a fresh tracker and origin, runs the hosts with fn, and returns fn's result
// with its times sorted and what the origin sent meanwhile.
func (f *benchFleet) against(origin string, fn func(tor, trackerURL string, ih metainfo.Hash) fleetResult) fleetResult {
	r := f.r
	var p *proc
	webSeed := ""
	if origin == "nginx" {
		var port int
		server := ""
		if *benchFleetNginxLog != "" {
			f.originRuns++
			log := filepath.Join(*benchFleetNginxLog, fmt.Sprintf("run-%d.log", f.originRuns))
			server = fmt.Sprintf("access_log %s fleet;", log)
			r.progress("  nginx's access log: %s", log)
		}
		port, p = nginxIn(r.b, f.origin, f.origin.IPv4.String(), f.src, server)
		webSeed = fmt.Sprintf("http://%s/", net.JoinHostPort(f.origin.IPv4.String(), strconv.Itoa(port)))
	}
	tor, ih, trackerURL, stopTracker := f.torrent(webSeed)
	defer stopTracker()
	if origin == "aria2" {
		p = aria2In(r.b, f.origin, tor, f.src, "--check-integrity=true", "--seed-ratio=0.0")
		waitScrape(r.b, trackerURL, ih, 1, 0)
	}
	defer func() {
		p.cmd.Process.Kill()
		<-p.done
		r.progress("  the origin's CPU, from start to exit: %s", cpuOf(p))
	}()
	before, err := f.origin.Counters()
	if err != nil {
		r.b.Fatal(err)
	}
	i0, c0 := cpuIdle()
	t0 := time.Now()
	res := fn(tor, trackerURL, ih)
	i1, c1 := cpuIdle()
	// Clock ticks are 1/100 s; the machine's cores are all counted.
	r.progress("  the machine's CPU over the run: busy %.1f s of %.1f s (%d%% idle)",
		float64((c1-i1)-(c0-i0))/100, float64(runtime.NumCPU())*time.Since(t0).Seconds(), 100*(i1-i0)/max(1, c1-c0))
	after, err := f.origin.Counters()
	if err != nil {
		r.b.Fatal(err)
	}
	slices.Sort(res.times)
	res.sent = after.Sent - before.Sent
	return res
}

// torrent starts a tracker in the tests' namespace, on the network, and writes the torrent
// naming it, and webSeed as its only web seed if not empty.
func (f *benchFleet) torrent(webSeed string) (string, metainfo.Hash, string, func()) {
	r := f.r
	mi, err := metainfo.LoadFromFile(f.base)
	if err != nil {
		r.b.Fatal(err)
	}
	ih := mi.HashInfoBytes()
	port, stop := opentrackerAt(r.b, f.n.IPv4().String(), ih.HexString())
	trackerURL := fmt.Sprintf("http://%s/announce", net.JoinHostPort(f.n.IPv4().String(), strconv.Itoa(port)))
	mi.Announce = trackerURL
	mi.AnnounceList = nil
	mi.UrlList = nil
	if webSeed != "" {
		mi.UrlList = []string{webSeed}
	}
	tor := filepath.Join(r.temp(), "fleet.torrent")
	writeMetaInfo(r.b, tor, mi)
	return tor, ih, trackerURL, stop
}

// aria2Fleet starts aria2 on every host at once and returns the time each took to have the
// whole file, checked against the source. They keep seeding until all have it.
func (f *benchFleet) aria2Fleet(hosts []*testnet.Host, tor string) []time.Duration {
	r := f.r
	type leech struct {
		p   *proc
		dir string
		rpc string
	}
	var ls []leech
	t0 := time.Now()
	for _, h := range hosts {
		dir := r.temp()
		p := aria2In(r.b, h, tor, dir, "--seed-ratio=0.0", "--enable-rpc=true", "--rpc-listen-all=true", "--rpc-listen-port=6800")
		ls = append(ls, leech{p, dir, net.JoinHostPort(h.IPv4.String(), "6800")})
	}
	defer func() {
		var ps []*proc
		for _, l := range ls {
			l.p.cmd.Process.Kill()
			<-l.p.done
			ps = append(ps, l.p)
		}
		r.progress("  the aria2 hosts' CPU, from start to exit: %s", cpuOf(ps...))
	}()
	if *benchFleetTimeline {
		stop := make(chan struct{})
		var tl sync.WaitGroup
		tl.Go(func() { f.timeline(hosts, nil, nil, stop) })
		defer tl.Wait()
		defer close(stop)
	}
	times := make([]time.Duration, len(ls))
	deadline := time.Now().Add(time.Duration(20*f.size*8/f.rate) * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for left := len(ls); left > 0; {
		for i, l := range ls {
			if times[i] != 0 {
				continue
			}
			if done, ok := aria2Completed(l.rpc); ok && done == f.size {
				times[i] = time.Since(t0)
				left--
			}
		}
		if time.Now().After(deadline) {
			r.b.Fatalf("the aria2 fleet did not finish in %v", time.Since(t0))
		}
		select {
		case <-tick.C: // polling aria2's counters
		case <-r.b.Context().Done():
			r.b.Fatal(r.b.Context().Err())
		}
	}
	for _, l := range ls {
		f.check(filepath.Join(l.dir, f.name), "aria2 on "+l.p.name)
	}
	return times
}

// fleetLeechers is an aria2 leecher and a Transmission leecher, each on a host of its own.
type fleetLeechers struct {
	f          *benchFleet
	t0         time.Time
	aria2, tr  *proc
	aria2Dir   string
	trDir, rpc string
}

// leechers starts an aria2 leecher on host a and a Transmission leecher on host t, on
// torrent, each listening on fleetPort of its host's address. They keep seeding once done.
func (f *benchFleet) leechers(a, t *testnet.Host, tor string) *fleetLeechers {
	r := f.r
	l := &fleetLeechers{f: f, t0: time.Now(), aria2Dir: r.temp(), trDir: r.temp(), rpc: net.JoinHostPort(a.IPv4.String(), "6800")}
	l.aria2 = aria2In(r.b, a, tor, l.aria2Dir, "--seed-ratio=0.0", "--enable-rpc=true", "--rpc-listen-all=true", "--rpc-listen-port=6800")
	cfg := transmissionConfig(r.b, "transmission-cli", map[string]any{
		"bind-address-ipv4": t.IPv4.String(), "bind-address-ipv6": t.IPv6.String(),
	})
	// Unbuffered (stdbuf -o0): its "Seeding" line, which times it, would come seconds late.
	l.tr = startProc(r.b, "transmission-cli on "+t.Name, t.Command("stdbuf", "-o0", "transmission-cli",
		"-g", cfg, "--no-portmap", "-p", strconv.Itoa(fleetPort), "-w", l.trDir, tor), nil)
	return l
}

// wait waits until both have the whole file, checks their bytes, stops them, and returns
// the time each took since it started.
func (l *fleetLeechers) wait() []time.Duration {
	f := l.f
	r := f.r
	defer func() {
		for _, p := range []*proc{l.aria2, l.tr} {
			p.cmd.Process.Kill()
			<-p.done
		}
	}()
	var aria2Took, trTook time.Duration
	deadline := time.Now().Add(time.Duration(20*f.size*8/f.rate) * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for aria2Took == 0 || trTook == 0 {
		if done, ok := aria2Completed(l.rpc); aria2Took == 0 && ok && done == f.size {
			aria2Took = time.Since(l.t0)
		}
		l.tr.mu.Lock()
		seeding := slices.ContainsFunc(l.tr.lines, func(s string) bool { return strings.Contains(s, "Seeding") })
		l.tr.mu.Unlock()
		if trTook == 0 && seeding {
			trTook = time.Since(l.t0)
		}
		if time.Now().After(deadline) {
			r.b.Fatalf("the aria2 and Transmission leechers did not finish in %v", time.Since(l.t0))
		}
		select {
		case <-tick.C: // polling aria2's counters and Transmission's output
		case <-l.tr.done:
			r.b.Fatalf("transmission-cli exited:\n%s", l.tr.output())
		case <-r.b.Context().Done():
			r.b.Fatal(r.b.Context().Err())
		}
	}
	f.check(filepath.Join(l.aria2Dir, f.name), "the aria2 leecher")
	f.check(filepath.Join(l.trDir, f.name), "the Transmission leecher")
	return []time.Duration{aria2Took, trTook}
}

// sentPerPeer samples, every 100 ms until the function it returns is called, what host h's
// TCP connections have had acknowledged (ss(8)'s bytes_acked), and the function returns it
// summed per peer address: where an origin's upload went. What a connection sent in its last
// 100 ms before it closed is missed.
func sentPerPeer(h *testnet.Host) func() map[netip.Addr]int64 {
	stop, done := make(chan struct{}), make(chan struct{})
	conns := make(map[string]int64) // by the connection's two addresses
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			out, _ := h.Command("ss", "-tinHO").Output()
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Fields(line)
				if len(f) < 5 {
					continue
				}
				for _, x := range f[5:] {
					if v, ok := strings.CutPrefix(x, "bytes_acked:"); ok {
						if n, err := strconv.ParseInt(v, 10, 64); err == nil {
							conns[f[3]+" "+f[4]] = max(conns[f[3]+" "+f[4]], n)
						}
					}
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C: // sampling the sockets
			}
		}
	}()
	return func() map[netip.Addr]int64 {
		close(stop)
		<-done
		per := make(map[netip.Addr]int64)
		for k, n := range conns {
			_, peer, _ := strings.Cut(k, " ")
			if ap, err := netip.ParseAddrPort(peer); err == nil {
				per[ap.Addr().Unmap()] += n
			}
		}
		return per
	}
}

// aria2Completed returns what aria2's one download has verified, from its JSON-RPC interface
// at addr, or false while it does not answer yet.
func aria2Completed(addr string) (int64, bool) {
	body := `{"jsonrpc":"2.0","id":"1","method":"aria2.tellActive","params":[["completedLength"]]}`
	resp, err := http.Post("http://"+addr+"/jsonrpc", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var out struct {
		Result []struct {
			CompletedLength string `json:"completedLength"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Result) != 1 {
		return 0, false
	}
	n, err := strconv.ParseInt(out.Result[0].CompletedLength, 10, 64)
	return n, err == nil
}

// mountFleet mounts the torrent on every host with mountBin, waits until the tracker knows
// them all, then reads the file through every mount at once, and returns each one's time.
// If also is not nil, it is called with true as the reads start and with false once they
// have ended, while the mounts still seed.
func (f *benchFleet) mountFleet(hosts []*testnet.Host, tor, mountBin, trackerURL string, ih metainfo.Hash, reads fleetReads, also func(reading bool)) []time.Duration {
	r := f.r
	type mount struct {
		p   *proc
		mnt string
	}
	var ms []mount
	f.mountRuns++
	for _, h := range hosts {
		mnt := r.temp()
		args := []string{"mount", "--cache-dir", r.temp(), "--listen", net.JoinHostPort(h.IPv4.String(), strconv.Itoa(fleetPort)),
			"--no-dht", "--no-upnp", "--no-pex"}
		if reads.prefetchAll {
			args = append(args, "--prefetch", "all")
		}
		args = append(append(args, strings.Fields(*benchFleetArgs)...), tor, mnt)
		cmd := h.Command(mountBin, args...)
		if *benchFleetProfiles != "" {
			if err := os.MkdirAll(*benchFleetProfiles, 0o755); err != nil {
				r.b.Fatal(err)
			}
			cmd.Env = append(os.Environ(), "TORRENTFS_CPUPROFILE="+filepath.Join(*benchFleetProfiles, fmt.Sprintf("%s-%d.pprof", h.Name, f.mountRuns)))
		}
		p := startProc(r.b, h.Name, cmd, func() { detachIfMounted(args) })
		ms = append(ms, mount{p, mnt})
	}
	defer func() {
		var ps []*proc
		for _, m := range ms {
			if code := m.p.stop(r.b, syscall.SIGINT); code != 0 {
				r.b.Errorf("mount on %s: exit %d", m.p.name, code)
			}
			ps = append(ps, m.p)
		}
		r.progress("  the mounts' CPU, from start to exit: %s", cpuOf(ps...))
	}()
	// The file in the mount, rather than readiness: mountBin may be a revision from before
	// torrentfs said READY=1.
	for _, m := range ms {
		waitListed(r.b, m.mnt, f.name)
	}
	waitScrape(r.b, trackerURL, ih, 0, len(ms))
	before := make([]testnet.Counters, len(hosts))
	for i, h := range hosts {
		var err error
		if before[i], err = h.Counters(); err != nil {
			r.b.Fatal(err)
		}
	}
	times := make([]time.Duration, len(ms))
	errs := make([]error, len(ms))
	if also != nil {
		also(true)
	}
	read := make([]atomic.Int64, len(ms))
	stop := make(chan struct{})
	var tl sync.WaitGroup
	if *benchFleetTimeline {
		var mnts []string
		for _, m := range ms {
			mnts = append(mnts, m.mnt)
		}
		tl.Go(func() { f.timeline(hosts, mnts, read, stop) })
	}
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() {
			if reads.none {
				times[i], errs[i] = f.waitCached(m.mnt, &read[i])
				if errs[i] == nil {
					_, errs[i] = f.readChecked(filepath.Join(m.mnt, f.name), false, 0, new(atomic.Int64))
				}
				return
			}
			times[i], errs[i] = f.readChecked(filepath.Join(m.mnt, f.name), reads.random, uint64(i), &read[i])
		})
	}
	wg.Wait()
	close(stop)
	tl.Wait()
	for i, err := range errs {
		if err != nil {
			r.b.Fatalf("mount on %s: %v", ms[i].p.name, err)
		}
	}
	for i, m := range ms {
		c, err := hosts[i].Counters()
		if err != nil {
			r.b.Fatal(err)
		}
		f.sources(m.mnt, m.p.name, times[i], c.Received-before[i].Received, c.Sent-before[i].Sent)
	}
	if also != nil {
		also(false)
	}
	return times
}

// timeline prints, as progress, every second until stop: the CPU's idle share, what the
// origin sent and each host received in that second, and what each mount had read so far;
// every other second also what each mount's connection to the origin brought and how long
// the origin choked it (the connection is gone by the end, when sources prints). A fleet
// that stalls shows as seconds with nothing received and reads that do not move.
func (f *benchFleet) timeline(hosts []*testnet.Host, mnts []string, read []atomic.Int64, stop <-chan struct{}) {
	counters := func() (int64, []testnet.Counters) {
		o, _ := f.origin.Counters()
		cs := make([]testnet.Counters, len(hosts))
		for i, h := range hosts {
			cs[i], _ = h.Counters()
		}
		return o.Sent, cs
	}
	t0 := time.Now()
	o0, rx0 := counters()
	i0, c0 := cpuIdle()
	socks0 := originSockets(f.origin)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	n := 0
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		o1, rx1 := counters()
		i1, c1 := cpuIdle()
		var b strings.Builder
		fmt.Fprintf(&b, "  t=%4.1f idle %3d%% origin %4.1f MiB/s; hosts rx/tx", time.Since(t0).Seconds(), 100*(i1-i0)/max(1, c1-c0), float64(o1-o0)/(1<<20))
		var tx float64
		for i := range rx1 {
			fmt.Fprintf(&b, " %.1f/%.1f", float64(rx1[i].Received-rx0[i].Received)/(1<<20), float64(rx1[i].Sent-rx0[i].Sent)/(1<<20))
			tx += float64(rx1[i].Sent-rx0[i].Sent) / (1 << 20)
		}
		fmt.Fprintf(&b, " (hosts sent %.1f MiB/s)", tx)
		if read != nil {
			b.WriteString("; read MiB")
		}
		for i := range read {
			fmt.Fprintf(&b, " %d", read[i].Load()>>20)
		}
		socks := originSockets(f.origin)
		b.WriteString("; the origin's sockets, MiB sent/KiB queued")
		for _, h := range hosts {
			s := socks[h.IPv4]
			fmt.Fprintf(&b, " %.1f/%d", float64(s.acked-socks0[h.IPv4].acked)/(1<<20), s.queued>>10)
		}
		socks0 = socks
		if n++; n%2 == 0 && mnts != nil {
			b.WriteString("; from the origin MiB/choked s/wanted s/requests s")
			for _, m := range mnts {
				st := f.originStats(m)
				fmt.Fprintf(&b, " %d/%.1f/%.1f/%.1f", st.Downloaded>>20, st.Waits.Choked.Seconds(), st.Waits.Wanted.Seconds(), st.Waits.Requests.Seconds())
			}
		}
		f.r.progress("%s", b.String())
		o0, rx0, i0, c0 = o1, rx1, i1, c1
	}
}

// originSocket is what host h's TCP connections to one peer address have had acknowledged
// and hold unacknowledged or unsent (ss(8)'s bytes_acked and Send-Q), summed.
type originSocket struct{ acked, queued int64 }

// originSockets samples h's TCP connections once, per peer address: whether an origin that
// sends little has nothing asked of it (nothing queued) or a link that does not drain.
func originSockets(h *testnet.Host) map[netip.Addr]originSocket {
	out, _ := h.Command("ss", "-tinHO").Output()
	per := make(map[netip.Addr]originSocket)
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		ap, err := netip.ParseAddrPort(f[4])
		if err != nil {
			continue
		}
		s := per[ap.Addr().Unmap()]
		if q, err := strconv.ParseInt(f[2], 10, 64); err == nil {
			s.queued += q
		}
		for _, x := range f[5:] {
			if v, ok := strings.CutPrefix(x, "bytes_acked:"); ok {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					s.acked += n
				}
			}
		}
		per[ap.Addr().Unmap()] = s
	}
	return per
}

// cpuOf sums the CPU time of processes that have exited, user and system.
func cpuOf(ps ...*proc) string {
	var user, sys time.Duration
	for _, p := range ps {
		if st := p.cmd.ProcessState; st != nil {
			user += st.UserTime()
			sys += st.SystemTime()
		}
	}
	return fmt.Sprintf("%.1f s (user %.1f s, system %.1f s)", (user + sys).Seconds(), user.Seconds(), sys.Seconds())
}

// cpuIdle returns the machine's idle and total CPU time so far, in clock ticks of all cores.
func cpuIdle() (int64, int64) {
	b, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(b), "\n")
	var total, idle int64
	for i, s := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(s, 10, 64)
		total += v
		if i == 3 || i == 4 {
			idle += v
		}
	}
	return idle, total
}

// originStats returns the mount's connection to the origin, as status says it.
func (f *benchFleet) originStats(mnt string) fetch.Peer {
	out, err := exec.Command(bin, "status", "--json", mnt).Output()
	if err != nil {
		return fetch.Peer{}
	}
	var rs []struct {
		Torrents []struct {
			PeerList []fetch.Peer `json:"peer_list"`
		} `json:"torrents"`
	}
	if json.Unmarshal(out, &rs) != nil {
		return fetch.Peer{}
	}
	for _, r := range rs {
		for _, t := range r.Torrents {
			for _, p := range t.PeerList {
				if strings.HasPrefix(p.Addr, f.origin.IPv4.String()+":") {
					return p
				}
			}
		}
	}
	return fetch.Peer{}
}

// sources prints, as progress, what the mount at mnt received from the origin and from the
// other hosts, and sent them: where a fleet's bytes went.
func (f *benchFleet) sources(mnt, who string, d time.Duration, received, sent int64) {
	out, err := exec.Command(bin, "status", "--json", mnt).Output()
	if err != nil {
		f.r.b.Fatalf("status --json: %v", err)
	}
	var rs []struct {
		Torrents []struct {
			PeerList []fetch.Peer    `json:"peer_list"`
			WebSeeds []fetch.WebSeed `json:"web_seeds"`
			Wasted   int64           `json:"wasted"`
		} `json:"torrents"`
	}
	if err := json.Unmarshal(out, &rs); err != nil {
		f.r.b.Fatalf("status --json: %v", err)
	}
	var origin, peers, up, wasted, wastedAll int64
	var others, from fetch.Waits // summed over the other hosts, and the origin's: a fleet that does not share shows here
	n := 0
	for _, r := range rs {
		for _, t := range r.Torrents {
			wastedAll += t.Wasted
			for _, p := range t.PeerList {
				if strings.HasPrefix(p.Addr, f.origin.IPv4.String()+":") || p.Source == fetch.SourceWebSeed {
					origin += p.Downloaded
					from.Wanted += p.Waits.Wanted
					from.Choked += p.Waits.Choked
					from.Requests += p.Waits.Requests
				} else {
					peers += p.Downloaded
					n++
					others.Wanted += p.Waits.Wanted
					others.Choked += p.Waits.Choked
					others.Requests += p.Waits.Requests
				}
				up += p.Uploaded
				wasted += p.Wasted
			}
			for _, w := range t.WebSeeds {
				origin += w.Downloaded
			}
		}
	}
	f.r.progress("  %s: %.1f s; its link received %d MiB, sent %d MiB; useful, from peers still connected: the origin %d MiB, %d others %d MiB; it sent them %d MiB; wasted %d MiB (%d MiB from every peer it had); waits (had what it wanted, of that choked it, requests out): the origin %.1f/%.1f/%.1f s, the others summed %.1f/%.1f/%.1f s",
		who, d.Seconds(), received>>20, sent>>20, origin>>20, n, peers>>20, up>>20, wasted>>20, wastedAll>>20,
		from.Wanted.Seconds(), from.Choked.Seconds(), from.Requests.Seconds(), others.Wanted.Seconds(), others.Choked.Seconds(), others.Requests.Seconds())
}

// fleetReads is how a fleet's mounts read: from the start or in random 4 MiB blocks, and
// whether each also fetches the whole torrent in the background (--prefetch all); none: they
// read nothing until the prefetch has the whole file in their caches, then check it.
type fleetReads struct{ random, prefetchAll, none bool }

// waitCached waits until the mount at mnt has the whole file in its cache, as status says,
// setting read to what it has, and returns how long that took (to within the 2 s between
// its looks: each runs a status process, and 8 mounts looked at every 250 ms took a core).
func (f *benchFleet) waitCached(mnt string, read *atomic.Int64) (time.Duration, error) {
	t0 := time.Now()
	deadline := t0.Add(time.Duration(20*f.size*8/f.rate) * time.Second)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		out, err := exec.CommandContext(f.r.b.Context(), bin, "status", "--json", mnt).Output()
		if err != nil {
			return 0, fmt.Errorf("status --json %s: %w", mnt, err)
		}
		var rs []struct {
			Torrents []struct {
				Files []struct {
					Cached int64 `json:"cached"`
				} `json:"files"`
			} `json:"torrents"`
		}
		if err := json.Unmarshal(out, &rs); err != nil {
			return 0, fmt.Errorf("status --json %s: %w", mnt, err)
		}
		var cached int64
		for _, r := range rs {
			for _, t := range r.Torrents {
				for _, fl := range t.Files {
					cached += fl.Cached
				}
			}
		}
		read.Store(cached)
		if cached >= f.size {
			return time.Since(t0), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s: %d of %d bytes cached after %v", mnt, cached, f.size, time.Since(t0))
		}
		select {
		case <-tick.C: // polling the mount's status
		case <-f.r.b.Context().Done():
			return 0, f.r.b.Context().Err()
		}
	}
}

// readChecked reads the file with 1 MiB reads, from the start or in a random order of
// fleetBlock blocks, checks each block against the source's, and returns how long it took.
func (f *benchFleet) readChecked(path string, random bool, seed uint64, read *atomic.Int64) (time.Duration, error) {
	file, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer file.Close()
	order := make([]int, len(f.sums))
	for i := range order {
		order[i] = i
	}
	if random {
		rand.New(rand.NewPCG(seed, 25)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	buf := make([]byte, fleetBlock)
	t0 := time.Now()
	for _, b := range order {
		off := int64(b) * fleetBlock
		n := min(fleetBlock, f.size-off)
		for got := int64(0); got < n; {
			m, err := file.ReadAt(buf[got:min(n, got+1<<20)], off+got)
			if err != nil && err != io.EOF {
				return 0, fmt.Errorf("read %s at %d: %w", path, off+got, err)
			}
			if m == 0 {
				return 0, fmt.Errorf("read %s at %d: no data", path, off+got)
			}
			got += int64(m)
			read.Add(int64(m))
		}
		if sha1.Sum(buf[:n]) != f.sums[b] {
			return 0, fmt.Errorf("%s: bytes %d to %d differ from the source's", path, off, off+n)
		}
	}
	return time.Since(t0), nil
}

// check fails unless the file at path equals the source, block by block.
func (f *benchFleet) check(path, who string) {
	got := blockSums(f.r, path)
	if !slices.Equal(got, f.sums) {
		f.r.b.Fatalf("%s: %s differs from the source", who, path)
	}
}

// blockSums returns the SHA-1 of each fleetBlock of the file at path.
func blockSums(r *benchRun, path string) [][sha1.Size]byte {
	file, err := os.Open(path)
	if err != nil {
		r.b.Fatal(err)
	}
	defer file.Close()
	var sums [][sha1.Size]byte
	buf := make([]byte, fleetBlock)
	for {
		n, err := io.ReadFull(file, buf)
		if n > 0 {
			sums = append(sums, sha1.Sum(buf[:n]))
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return sums
		}
		if err != nil {
			r.b.Fatal(err)
		}
	}
}

// aria2In runs Debian's aria2c in host h, listening on its address at fleetPort, with DHT,
// local discovery and PEX off, on torrent with its files under dir.
func aria2In(t testing.TB, h *testnet.Host, torrent, dir string, args ...string) *proc {
	t.Helper()
	cmd := h.Command("aria2c", append([]string{
		"--interface=" + h.IPv4.String(), "--disable-ipv6",
		"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
		fmt.Sprintf("--listen-port=%d", fleetPort), "--bt-require-crypto=false",
		"--file-allocation=none", "--summary-interval=0", "--console-log-level=warn",
		"--dir", dir,
	}, append(args, torrent)...)...)
	return startProc(t, "aria2c on "+h.Name, cmd, nil)
}

// waitScrape waits until the tracker at announce URL u knows of at least seeders complete
// and leeches incomplete peers of ih.
func waitScrape(t testing.TB, u string, ih metainfo.Hash, seeders, leeches int) {
	t.Helper()
	url := strings.Replace(u, "/announce", "/scrape", 1) + "?info_hash=" + urlQueryEscape(ih[:])
	deadline := time.Now().Add(time.Minute)
	for {
		var complete, incomplete int
		resp, err := http.Get(url)
		if err == nil {
			var sc struct {
				Files map[string]struct {
					Complete   int `bencode:"complete"`
					Incomplete int `bencode:"incomplete"`
				} `bencode:"files"`
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if bencode.NewDecoder(bytes.NewReader(b)).Decode(&sc) == nil {
				complete, incomplete = sc.Files[string(ih[:])].Complete, sc.Files[string(ih[:])].Incomplete
			}
		}
		if complete >= seeders && incomplete >= leeches {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tracker knows of %d seeders and %d leechers after a minute, want %d and %d (%v)", complete, incomplete, seeders, leeches, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the tracker
	}
}
