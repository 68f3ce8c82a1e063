package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
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
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/internal/testnet"
	"github.com/torrentfs/torrentfs/status"
)

// bin is the torrentfs binary built for these tests.
var bin string

func TestMain(m *testing.M) {
	if op := os.Getenv(probeEnv); op != "" {
		os.Exit(probeMain(op, os.Args[1]))
	}
	// The tests start peers: run as root, they run in a network namespace of their own.
	testnet.Isolate()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: /dev/fuse is missing; these tests need FUSE")
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "torrentfs-bin")
	if err != nil {
		panic(err)
	}
	// Tests run it as another user too.
	if err := os.Chmod(dir, 0o755); err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "torrentfs")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: build torrentfs: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// loopback are the flags that keep a torrentfs process on 127.0.0.1.
var loopback = []string{"--listen", "127.0.0.1:0", "--no-dht", "--no-upnp", "--no-pex"}

// proc is a running program, torrentfs or a third-party client, whose output is collected
// line by line.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and its output is read

	// ready is closed when a mount or serve started by start says it serves (READY=1 on
	// its $NOTIFY_SOCKET, as for systemd: notify.go); nil for other processes.
	ready chan struct{}

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced when a line arrives
	logged  [][]string    // lines wantLogged asks for, checked once the process has ended
}

// start runs torrentfs with args. A mount, serve or seed (args[0]) whose env sets no
// NOTIFY_SOCKET gets one of the test's own, which waitReady waits on. When the test ends, a
// process still running is killed and its mount point, if any, detached.
func start(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	after := func() {
		if args[0] == "mount" {
			detachIfMounted(args)
		}
	}
	if (args[0] == "mount" || args[0] == "serve" || args[0] == "seed") && !slices.ContainsFunc(env, func(v string) bool {
		return strings.HasPrefix(v, "NOTIFY_SOCKET=")
	}) {
		return startReady(t, cmd, after)
	}
	return startProc(t, "torrentfs", cmd, after)
}

// startReady starts cmd, a torrentfs mount, serve or seed, as startProc does, with a
// $NOTIFY_SOCKET of the test's own, which waitReady waits on.
func startReady(t testing.TB, cmd *exec.Cmd, after func()) *proc {
	t.Helper()
	return startReadyAs(t, "torrentfs", cmd, after)
}

// startReadyAs is startReady for a process called name in the test's log.
func startReadyAs(t testing.TB, name string, cmd *exec.Cmd, after func()) *proc {
	t.Helper()
	sock, ready := readinessSocket(t)
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+sock)
	p := startProc(t, name, cmd, after)
	p.ready = ready
	return p
}

// readinessSocket listens on a unix datagram socket of the test's own, as systemd does for a
// Type=notify service, and returns its $NOTIFY_SOCKET path and a channel closed when READY=1
// arrives on it. A path, not an abstract name: those belong to a network namespace, and a
// process started in a test network's host (startIn) must reach it too. It is closed and
// removed when the test ends.
func readinessSocket(t testing.TB) (string, chan struct{}) {
	t.Helper()
	// Not t.TempDir: a test's name can make that path longer than a socket's 108 bytes.
	dir, err := os.MkdirTemp("", "tfs-ready")
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, fmt.Sprint(notifySockets.Add(1)))
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for closed := false; ; {
			n, err := conn.Read(b)
			if err != nil {
				return // closed when the test ends
			}
			if !closed && slices.Contains(strings.Split(string(b[:n]), "\n"), "READY=1") {
				close(ready)
				closed = true
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
		os.RemoveAll(dir)
	})
	return name, ready
}

// notifySockets numbers the tests' readiness sockets.
var notifySockets atomic.Int64

// waitReady waits until a mount, serve or seed started by start serves: it said READY=1.
func (p *proc) waitReady(t testing.TB) {
	t.Helper()
	if p.ready == nil {
		t.Fatalf("%s was not started with a readiness socket (start, mount, serve or seed)", p.name)
	}
	select {
	case <-p.ready:
	case <-p.done:
		select {
		case <-p.ready:
		default:
			t.Fatalf("%s exited (%v) before it was ready:\n%s", p.name, p.cmd.ProcessState, p.output())
		}
	case <-time.After(time.Minute):
		t.Fatalf("%s not ready in a minute:\n%s", p.name, p.output())
	}
}

// startProc starts cmd with its stdout and stderr collected in lines, which end at a newline
// or a carriage return (progress lines). When the test ends, a process still running is
// killed, then after runs.
func startProc(t testing.TB, name string, cmd *exec.Cmd, after func()) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), changed: make(chan struct{})}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	go p.collect(r)
	p.cleanup(t, after)
	return p
}

// collect reads the process's output into lines until it ends, then waits for the process.
func (p *proc) collect(r io.ReadCloser) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Split(scanLines)
	for sc.Scan() {
		p.mu.Lock()
		p.lines = append(p.lines, sc.Text())
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
	p.cmd.Wait()
	close(p.done)
}

// cleanup kills the process if it still runs when the test ends, then runs after.
func (p *proc) cleanup(t testing.TB, after func()) {
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if after != nil {
			after()
		}
		p.checkLogged(t)
		if t.Failed() {
			t.Logf("%s %s output:\n%s", p.name, strings.Join(p.cmd.Args[1:], " "), p.output())
		}
	})
}

// scanLines splits at a newline or a carriage return.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// waitFor waits for a stderr line containing s and returns it.
func (p *proc) waitFor(t testing.TB, s string) string {
	t.Helper()
	timeout := time.After(time.Minute)
	for seen := 0; ; {
		p.mu.Lock()
		lines, changed := p.lines, p.changed
		p.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if strings.Contains(lines[seen], s) {
				return lines[seen]
			}
		}
		select {
		case <-changed:
		case <-p.done:
			if seen == len(p.lines) {
				t.Fatalf("%s exited (%v) before logging %q:\n%s", p.name, p.cmd.ProcessState, s, p.output())
			}
		case <-timeout:
			t.Fatalf("no %q from %s in a minute:\n%s", s, p.name, p.output())
		}
	}
}

// wantLogged has the test check, as it ends and once p has ended (p's cleanup), that a line
// of p's output holds every one of subs: for a line that is itself what a test checks, such
// as a warning a user reads. It waits for nothing: the test waits on an event (readiness,
// the status API, a read's result) after which the line has been written, and once the
// process has ended all it wrote has been read.
func (p *proc) wantLogged(t testing.TB, subs ...string) {
	t.Helper()
	if len(subs) == 0 {
		t.Fatal("wantLogged: no text to look for")
	}
	p.mu.Lock()
	p.logged = append(p.logged, subs)
	p.mu.Unlock()
}

// checkLogged fails the test for each line wantLogged asked for that p, ended, did not
// write.
func (p *proc) checkLogged(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, subs := range p.logged {
		if !slices.ContainsFunc(p.lines, func(l string) bool {
			for _, s := range subs {
				if !strings.Contains(l, s) {
					return false
				}
			}
			return true
		}) {
			t.Errorf("%s wrote no line holding %q", p.name, subs)
		}
	}
	p.logged = nil
}

// hasOpen reports whether the running process p has the file at path open, from /proc.
func hasOpen(p *proc, path string) bool {
	dir := fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid)
	fds, _ := os.ReadDir(dir)
	for _, fd := range fds {
		if to, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && to == path {
			return true
		}
	}
	return false
}

// port returns the port= value of a log line.
func port(line string) string {
	_, after, _ := strings.Cut(line, "port=")
	return strings.Fields(after)[0]
}

// stop sends sig and returns the exit code.
func (p *proc) stop(t testing.TB, sig syscall.Signal) int {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatalf("%s did not exit a minute after %v:\n%s", p.name, sig, p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

// wait waits for the process to exit on its own and returns the exit code.
func (p *proc) wait(t testing.TB) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatalf("%s did not exit:\n%s", p.name, p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

// detachIfMounted lazily unmounts a test's mount point if it is still mounted.
func detachIfMounted(args []string) {
	for _, a := range args {
		if mounted(a) {
			syscall.Unmount(a, syscall.MNT_DETACH)
		}
	}
}

// mounted reports whether dir is a mount point, from /proc/self/mountinfo.
func mounted(dir string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == abs {
			return true
		}
	}
	return false
}

// torrentfs runs a command that is expected to finish, and returns its exit code, stdout
// and stderr.
func torrentfs(t testing.TB, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("torrentfs %s hung", strings.Join(args, " "))
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// sampleTree writes a small tree of files to dir/sample and returns its files' contents by
// path relative to dir.
func sampleTree(t *testing.T, dir string) map[string][]byte {
	files := map[string][]byte{
		"sample/a/b.bin":  fetchtest.Payload(5<<20+12345, 1),
		"sample/c.txt":    []byte("hello\n"),
		"sample/d/e/f.gz": fetchtest.Payload(300<<10, 2),
	}
	writeTree(t, dir, files)
	return files
}

// writePayload writes to path n bytes generated from seed (fetchtest.Payload) and returns them.
func writePayload(t testing.TB, path string, n int, seed uint64) []byte {
	t.Helper()
	data := fetchtest.Payload(n, seed)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

// writeTree writes files, by path relative to dir, under dir.
func writeTree(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for p, b := range files {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkTree reads every file of files under mnt and compares it with the source.
func checkTree(t *testing.T, mnt string, files map[string][]byte) {
	t.Helper()
	for p, want := range files {
		got, err := os.ReadFile(filepath.Join(mnt, p))
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes differ from the source's %d", p, len(got), len(want))
		}
	}
}

// lastLoopbackHost is the last address loopbackHost gave, as a number.
var lastLoopbackHost atomic.Uint32

// loopbackHost returns an address of 127.0.0.0/8 that it has given to no one before in
// this test process, from 127.0.0.2 on: a host of its own for a third-party client in a
// swarm of several on this machine. Linux puts all of 127.0.0.0/8 on lo, so the address
// works with no set-up. Transmission 3.00 tells its peers and incoming handshakes apart
// by IP address alone (tr_peerMgrAddIncoming, myHandshakeDoneCB in peer-mgr.c): with
// aria2 or libtorrent at 127.0.0.1 connected to it, it closes every connection from a
// mount at 127.0.0.1 as a second one from the same peer. A client bound to its own
// address, listening and dialling, is a peer of its own to the others and to the tracker,
// which sees its announces come from there and hands that address out.
func loopbackHost() string {
	n := 127<<24 | 1 + lastLoopbackHost.Add(1) // all of them hosts of lo's 127.0.0.0/8
	return net.IPv4(byte(n>>24), byte(n>>16), byte(n>>8), byte(n)).String()
}

// freePort returns a TCP and UDP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	return freePortAt(t, "127.0.0.1")
}

// freePortAt is freePort on the address ip (loopbackHost's, say).
func freePortAt(t testing.TB, ip string) int {
	for {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(p)))
		l.Close()
		if err == nil {
			u.Close()
			return p
		}
	}
}

// opentracker starts Debian's opentracker on 127.0.0.1 for the given info-hashes (it runs
// in whitelist mode) and returns its port.
func opentracker(t testing.TB, infohashes ...string) int {
	t.Helper()
	p, _ := opentrackerAt(t, "127.0.0.1", infohashes...)
	return p
}

// opentrackerAt is opentracker listening on ip, in the tests' namespace; it also returns a
// function that stops it (it is stopped when the test ends in any case).
func opentrackerAt(t testing.TB, ip string, infohashes ...string) (int, func()) {
	t.Helper()
	dir := opentrackerDir(t, infohashes)
	p := freePort(t)
	ps := fmt.Sprint(p)
	cmd := exec.Command("opentracker", "-i", ip, "-p", ps, "-P", ps, "-d", dir, "-w", "/whitelist")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() { cmd.Process.Kill(); <-exited }
	t.Cleanup(stop)
	// opentracker says nothing when it is ready.
	waitAcceptingAt(t, "opentracker", net.JoinHostPort(ip, ps), exited)
	return p, stop
}

// mktorrent makes tor, a torrent of path (a file or a directory), with Debian's mktorrent, in
// pieces of 1<<log2Piece bytes, announced to announce if it is not empty, with mktorrent's
// extra options (-w URL for a web seed, say); it returns the torrent's metainfo.
func mktorrent(t testing.TB, tor, path string, log2Piece int, announce string, extra ...string) *metainfo.MetaInfo {
	t.Helper()
	os.Remove(tor) // mktorrent will not overwrite it
	args := []string{"-l", strconv.Itoa(log2Piece), "-o", tor}
	if announce != "" {
		args = append(args, "-a", announce)
	}
	args = append(args, extra...)
	if out, err := exec.Command("mktorrent", append(args, path)...).CombinedOutput(); err != nil {
		t.Fatalf("mktorrent: %v\n%s", err, out)
	}
	mi, err := metainfo.LoadFromFile(tor)
	if err != nil {
		t.Fatal(err)
	}
	return mi
}

// loadTorrent reads the .torrent file at path and returns it and its info.
func loadTorrent(t testing.TB, path string) (*metainfo.MetaInfo, metainfo.Info) {
	t.Helper()
	mi, err := metainfo.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	return mi, info
}

// writeMetaInfo writes mi to path as a .torrent file.
func writeMetaInfo(t testing.TB, path string, mi *metainfo.MetaInfo) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := mi.Write(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// trackedTorrent is mktorrent announcing to the tracker that tracker starts for the
// torrent's info-hash (a whitelist needs it) and whose announce URL it returns: the torrent is
// made twice, as its info-hash does not depend on its announce URL.
func trackedTorrent(t testing.TB, tor, path string, log2Piece int, tracker func(infohash string) string, extra ...string) *metainfo.MetaInfo {
	t.Helper()
	mi := mktorrent(t, tor, path, log2Piece, "", extra...)
	return mktorrent(t, tor, path, log2Piece, tracker(mi.HashInfoBytes().HexString()), extra...)
}

// atOpentracker is a tracker for trackedTorrent: opentracker on 127.0.0.1 (opentracker); it
// stores the tracker's port in *port if port is not nil.
func atOpentracker(t testing.TB, port *int) func(string) string {
	return func(ih string) string {
		p := opentracker(t, ih)
		if port != nil {
			*port = p
		}
		return fmt.Sprintf("http://127.0.0.1:%d/announce", p)
	}
}

// opentrackerDir checks that opentracker is installed and returns a directory for it (-d)
// holding /whitelist (-w), the infohashes' hex, one a line.
func opentrackerDir(t testing.TB, infohashes []string) string {
	t.Helper()
	if _, err := exec.LookPath("opentracker"); err != nil {
		t.Fatal("opentracker not installed: run make deps")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "whitelist"), []byte(strings.Join(infohashes, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// announceAs registers a peer at 127.0.0.1:port with the tracker at tport, as that peer
// would announce itself, seeding: to name a peer the tracker could not know, such as a
// proxy in front of a seeder.
func announceAs(t testing.TB, tport int, ih metainfo.Hash, port int, peerID string) {
	t.Helper()
	q := url.Values{"info_hash": {string(ih[:])}, "peer_id": {peerID}, "port": {fmt.Sprint(port)},
		"uploaded": {"0"}, "downloaded": {"0"}, "left": {"0"}, "event": {"started"}, "compact": {"1"}}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/announce?%s", tport, q.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// scraped is what a tracker's scrape tells of one torrent.
type scraped struct {
	Complete   int `bencode:"complete"`   // seeders
	Incomplete int `bencode:"incomplete"` // peers without every piece
}

// scrape asks the tracker at 127.0.0.1:tport (opentracker) what it knows of ih, by an HTTP
// scrape: how many peers announced it, and with what.
func scrape(t testing.TB, tport int, ih metainfo.Hash) scraped {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/scrape?%s", tport, url.Values{"info_hash": {string(ih[:])}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Files map[string]scraped `bencode:"files"`
	}
	if err := bencode.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("scrape: %s: %v", resp.Status, err)
	}
	return r.Files[string(ih[:])]
}

// waitAccepting dials a third-party program's port until it accepts, with a bound, for
// programs that say nothing when they are ready; exited is closed if the program exits.
func waitAccepting(t testing.TB, name string, port int, exited <-chan struct{}) {
	t.Helper()
	waitAcceptingAt(t, name, fmt.Sprintf("127.0.0.1:%d", port), exited)
}

// waitAcceptingAt is waitAccepting at a host:port (a host of a test network's, say), for at
// most 30 s.
//
// It polls, as nothing else tells: these programs (opentracker, aria2, nginx, transmission,
// microsocks…) print no line and send no notification when they listen, and a port that
// accepts is what the test needs of them. A refused dial on the loopback or a test network's
// bridge costs microseconds; the one event there is, the program's exit, ends the wait at once.
func waitAcceptingAt(t testing.TB, name, addr string, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not accepting on %s: %v", name, addr, err)
		}
		select {
		case <-exited:
			t.Fatalf("%s exited at start", name)
		case <-tick.C:
		}
	}
}

// TestUserDay is the day of a user: create a torrent, seed it, mount it from a tracker,
// serve a second user from the mount alone (magnet link, UDP tracker), stop with Ctrl-C,
// and remount from the cache with nobody online.
func TestUserDay(t *testing.T) {
	dir := t.TempDir()
	files := sampleTree(t, dir)
	tor := filepath.Join(dir, "sample.torrent")

	// create needs the tracker URL and the tracker needs the info-hash: make the torrent
	// once to learn the port-independent info-hash, then again with the real tracker.
	code, out, errOut := torrentfs(t, nil, "create", "-o", tor, "-t", "http://127.0.0.1:1/announce", filepath.Join(dir, "sample"))
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut)
	}
	ih := strings.Fields(out)[0]
	tport := opentracker(t, ih)
	announce := fmt.Sprintf("http://127.0.0.1:%d/announce", tport)
	code, out, errOut = torrentfs(t, nil, "create", "-f", "-o", tor, "-t", announce, filepath.Join(dir, "sample"))
	if code != 0 || strings.Fields(out)[0] != ih {
		t.Fatalf("create again: exit %d, %q: %s", code, out, errOut)
	}

	// Another client reads the torrent we made as we meant it.
	if out, err := exec.Command("aria2c", "--show-files", tor).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "sample/a/b.bin") || !strings.Contains(string(out), ih) {
		t.Fatalf("aria2c --show-files on our torrent: %v\n%s", err, out)
	}

	seeder := start(t, nil, append([]string{"seed", tor, filepath.Join(dir, "sample")}, loopback...)...)
	seeder.seedAddr(t)

	mntA, cacheA := t.TempDir(), t.TempDir()
	a := start(t, nil, append([]string{"mount", "--cache-dir", cacheA, tor, mntA}, loopback...)...)
	a.waitReady(t)
	checkTree(t, mntA, files)
	waitStatus(t, mntA, allCached)
	code, out, errOut = torrentfs(t, nil, "status", "--cache-dir", cacheA, mntA)
	for _, want := range []string{"torrent:  sample", "infohash: " + ih, "(100%)", "1 connected, 1 seeders", "100%  a/b.bin (5.0 MiB)"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("status: exit %d, %q (%s); want %q in it", code, out, errOut, want)
		}
	}
	if code, _, errOut := torrentfs(t, nil, "status", t.TempDir()); code != 1 || !strings.Contains(errOut, "not a torrentfs mount") {
		t.Fatalf("status of a plain directory: exit %d, %q", code, errOut)
	}

	if code := seeder.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("seed: exit %d after SIGINT", code)
	}

	// A second user, from a magnet link and the UDP side of the tracker, finds only the
	// mount, and gets metadata and every piece from it.
	magnet := fmt.Sprintf("magnet:?xt=urn:btih:%s&tr=udp://127.0.0.1:%d/announce", ih, tport)
	mntB, cacheB := t.TempDir(), t.TempDir()
	b := start(t, nil, append([]string{"mount", "--cache-dir", cacheB, magnet, mntB}, loopback...)...)
	b.waitReady(t)
	waitStatus(t, mntB, hasTorrent("sample", false)) // once the metadata came
	checkTree(t, mntB, files)
	for _, p := range []*proc{a, b} {
		if code := p.stop(t, syscall.SIGINT); code != 0 {
			t.Fatalf("mount: exit %d after SIGINT", code)
		}
	}
	if mounted(mntA) || mounted(mntB) {
		t.Fatal("mount left behind after SIGINT")
	}

	// Remount with nobody online: the mount says everything is cached, du shows it before
	// any read, and every byte comes from the cache.
	a = start(t, nil, append([]string{"mount", "--cache-dir", cacheA, tor, mntA}, loopback...)...)
	a.waitReady(t)
	waitStatus(t, mntA, allCached)
	du, err := exec.Command("du", "-sb", "--apparent-size", mntA).Output()
	if err != nil {
		t.Fatal(err)
	}
	var blocks syscall.Stat_t
	syscall.Stat(filepath.Join(mntA, "sample/a/b.bin"), &blocks)
	if blocks.Blocks*512 < int64(len(files["sample/a/b.bin"])) {
		t.Fatalf("after remount b.bin has %d cached bytes, want all %d (du: %s)", blocks.Blocks*512, len(files["sample/a/b.bin"]), du)
	}
	checkTree(t, mntA, files)
	if code := a.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("mount: exit %d after SIGTERM", code)
	}

	// The second user's cache kept the metadata too: a bare info-hash mounts with nobody
	// online, and every byte is served.
	b = start(t, nil, append([]string{"mount", "--cache-dir", cacheB, ih, mntB}, loopback...)...)
	b.waitReady(t)
	// The line is what this checks: the metadata came from the cache (none is online). It
	// is written as the info-hash is added, before the mount is ready.
	b.wantLogged(t, "metadata from the cache")
	checkTree(t, mntB, files)
	b.stop(t, syscall.SIGINT)
}

// TestCreateSpecialFiles makes a torrent of a directory holding more than regular files. A
// symlink to a file is shared as that file, whole, as mktorrent does (anacrolix's builder took
// the length of the link and the first bytes of its target); a FIFO, which hashing would
// wait on for ever, a dangling symlink and a symlink to a directory are left out, and create
// names them. The torrent seeds and mounts as the files it lists; Ctrl-C stops the hashing
// of a large file.
func TestCreateSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "target.bin")
	targetData := writePayload(t, target, 100<<10+7, 9)
	files := map[string][]byte{"share/a.txt": []byte("plain\n"), "share/link.bin": targetData}
	writeTree(t, dir, map[string][]byte{"share/a.txt": files["share/a.txt"]})
	share := filepath.Join(dir, "share")
	for link, to := range map[string]string{"link.bin": target, "dangling": "missing", "dirlink": dir} {
		if err := os.Symlink(to, filepath.Join(share, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(share, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	tor := filepath.Join(dir, "share.torrent")
	code, _, errOut := torrentfs(t, nil, "create", "-o", tor, share)
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"left out dangling (a symlink to nothing)", "left out dirlink (a symlink to a directory",
		"left out fifo (not a regular file)"} {
		if !strings.Contains(errOut, want) {
			t.Fatalf("create said %q; want %q in it", errOut, want)
		}
	}
	_, info, err := fetch.LoadTorrentFile(tor)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, f := range info.Files {
		listed = append(listed, fmt.Sprintf("%s %d", strings.Join(f.Path, "/"), f.Length))
	}
	if got, want := strings.Join(listed, ", "), fmt.Sprintf("a.txt 6, link.bin %d", len(targetData)); got != want {
		t.Fatalf("the torrent lists %s; want %s", got, want)
	}

	seeder := start(t, nil, append([]string{"seed", tor, share}, loopback...)...)
	addr := seeder.seedAddr(t)
	if out := seeder.output(); strings.Contains(out, "only the data that matches") {
		t.Fatalf("seed found data that does not match the torrent create made:\n%s", out)
	}
	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--peer", addr, tor, mnt}, loopback...)...)
	m.waitReady(t)
	checkTree(t, mnt, files)
	m.stop(t, syscall.SIGINT)
	seeder.stop(t, syscall.SIGINT)

	// A sparse 64 GiB file takes half a minute to hash; Ctrl-C ends it at once.
	huge := filepath.Join(t.TempDir(), "huge")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(64 << 30)
	f.Close()
	out := filepath.Join(dir, "huge.torrent")
	p := start(t, nil, "create", "-o", out, huge)
	// Hashing began: create has the file open (it has no readiness or status).
	waitUntil(t, "create to open "+huge, func() bool { return hasOpen(p, huge) })
	if code := p.stop(t, syscall.SIGINT); code != 1 || !strings.Contains(p.output(), "interrupted: no torrent written") {
		t.Fatalf("create after Ctrl-C: exit %d, %q", code, p.output())
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("an interrupted create left %s behind (%v)", out, err)
	}
}

// swarm starts a seeder for a fresh single-file torrent and returns the torrent, the data
// and the seeder's address.
func swarm(t *testing.T, name string, size int) (string, []byte, string) {
	data := fetchtest.Payload(size, uint64(size))
	s := fetchtest.NewSwarm(t, name, []fetchtest.File{{Data: data}}, 256<<10)
	_, addr := s.StartSeeder(t)
	return s.TorrentPath, data, addr
}

// TestTinyTorrent seeds and mounts a torrent of three bytes and empty files, made by
// mktorrent: seed must not report that nothing matches (its check once raced anacrolix's
// events on a torrent this quick to hash), and the empty files are there, empty.
func TestTinyTorrent(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{"tiny/empty": {}, "tiny/d/e/zero": {}, "tiny/d/x.txt": []byte("hi\n")}
	writeTree(t, dir, files)
	tor := filepath.Join(dir, "tiny.torrent")
	mktorrent(t, tor, filepath.Join(dir, "tiny"), 15, "")
	seeder := start(t, nil, append([]string{"seed", tor, filepath.Join(dir, "tiny")}, loopback...)...)
	addr := seeder.seedAddr(t)
	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--peer", addr, tor, mnt}, loopback...)...)
	m.waitReady(t)
	checkTree(t, mnt, files)
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

// Two processes mount two torrents with the default cache directory; a third process
// mounting the first torrent again is told it is in use.
func TestTwoMountsDefaultCache(t *testing.T) {
	env := []string{"XDG_CACHE_HOME=" + t.TempDir()}
	tor1, data1, addr1 := swarm(t, "one.bin", 1<<20+1)
	tor2, data2, addr2 := swarm(t, "two.bin", 2<<20+2)
	mnt1, mnt2 := t.TempDir(), t.TempDir()
	p1 := start(t, env, append([]string{"mount", "--peer", addr1, tor1, mnt1}, loopback...)...)
	p2 := start(t, env, append([]string{"mount", "--peer", addr2, tor2, mnt2}, loopback...)...)
	p1.waitReady(t)
	p2.waitReady(t)
	checkTree(t, mnt1, map[string][]byte{"one.bin": data1})
	checkTree(t, mnt2, map[string][]byte{"two.bin": data2})

	code, _, errOut := torrentfs(t, env, append([]string{"mount", tor1, t.TempDir()}, loopback...)...)
	if code != 1 || !strings.Contains(errOut, "already mounted by another torrentfs process") {
		t.Fatalf("same torrent twice: exit %d, %q", code, errOut)
	}
	// Added to the second mount, it is refused the same way, and its entry, in the mount
	// while its database opened, is gone.
	code, _, errOut = torrentfs(t, env, "add", mnt2, tor1)
	if code != 1 || !strings.Contains(errOut, "already mounted by another torrentfs process") {
		t.Fatalf("add of a torrent another mount has: exit %d, %q", code, errOut)
	}
	if es, err := os.ReadDir(mnt2); err != nil || len(es) != 1 || es[0].Name() != "two.bin" {
		t.Fatalf("second mount lists %v (%v), want two.bin alone", es, err)
	}
	for _, p := range []*proc{p1, p2} {
		if code := p.stop(t, syscall.SIGINT); code != 0 {
			t.Fatalf("exit %d", code)
		}
	}
}

// The mount goes away cleanly however it is ended: fusermount3 -u from outside, SIGINT with
// a file open, or kill -9 followed by a new mount on the stale mount point.
func TestUnmountPaths(t *testing.T) {
	tor, data, addr := swarm(t, "f.bin", 1<<20)
	mnt, cacheDir := t.TempDir(), t.TempDir()
	args := append([]string{"mount", "--cache-dir", cacheDir, "--peer", addr, tor, mnt}, loopback...)

	p := start(t, nil, args...)
	p.waitReady(t)
	if out, err := exec.Command("fusermount3", "-u", mnt).CombinedOutput(); err != nil {
		t.Fatalf("fusermount3 -u: %v %s", err, out)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("after fusermount3 -u: exit %d", code)
	}

	p = start(t, nil, args...)
	p.waitReady(t)
	f, err := os.Open(filepath.Join(mnt, "f.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if code := p.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("SIGINT with a file open: exit %d", code)
	}
	if mounted(mnt) {
		t.Fatal("still mounted after SIGINT with a file open")
	}

	// That exit waits up to 3 s for the open file; a second Ctrl-C ends it at once.
	p = start(t, nil, args...)
	p.waitReady(t)
	g, err := os.Open(filepath.Join(mnt, "f.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	p.cmd.Process.Signal(syscall.SIGINT)
	// The first signal is handled: with a file open, the mount is detached lazily (and
	// says so first); the process stays up meanwhile.
	waitUntil(t, "the busy mount to be detached", func() bool { return !mounted(mnt) })
	p.wantLogged(t, "mount busy, detaching lazily")
	// The second signal may land before the first is fully handled; send it until the
	// process ends. Caught and ignored, it would exit 0 after the 3 s instead.
	for tick := time.NewTicker(50 * time.Millisecond); ; <-tick.C {
		p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.done:
		default:
			continue
		}
		tick.Stop()
		break
	}
	if ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Fatalf("a second SIGINT: exit %d, want killed by it", p.cmd.ProcessState.ExitCode())
	}

	p = start(t, nil, args...)
	p.waitReady(t)
	p.stop(t, syscall.SIGKILL)
	if _, err := os.ReadDir(mnt); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("after kill -9, listing the mount point: %v, want ENOTCONN", err)
	}
	p = start(t, nil, args...)
	p.waitReady(t)
	checkTree(t, mnt, map[string][]byte{"f.bin": data})
	p.stop(t, syscall.SIGINT)
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	tor, _, _ := swarm(t, "f.bin", 100<<10)
	empty := t.TempDir()
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	wrongData := filepath.Join(dir, "wrong.bin")
	os.WriteFile(wrongData, fetchtest.Payload(100<<10, 99), 0o644)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	mnt := func() string { return t.TempDir() }
	mount := func(args ...string) []string {
		return append(append([]string{"mount", "--cache-dir", filepath.Join(dir, "cache")}, args...), loopback...)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, 2, "no command"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"mount without mount point", []string{"mount", tor}, 2, "takes at least 2 arguments"},
		{"bad flag", []string{"mount", "--nope", tor, mnt()}, 2, "flag provided but not defined"},
		{"bad size", []string{"mount", "--readahead", "lots", tor, mnt()}, 2, "bad size"},
		{"bad log level", mount("--log-level", "loud", tor, mnt()), 2, "bad --log-level"},
		{"bad encryption", mount("--encryption", "maybe", tor, mnt()), 2, `encryption "maybe": want allow, prefer or require`},
		{"missing torrent", mount(filepath.Join(dir, "nope.torrent"), mnt()), 1, "no such file"},
		{"not bencode", mount("../../testdata/not-bencode.torrent", mnt()), 1, "not a valid .torrent file"},
		{"empty torrent", mount("../../testdata/empty.torrent", mnt()), 1, "empty file"},
		{"truncated torrent", mount("../../testdata/truncated.torrent", mnt()), 1, "not a valid .torrent file"},
		{"bad piece hashes", mount("../../testdata/bad-piece-hashes.torrent", mnt()), 1, "not a multiple of 20"},
		{"wrong piece count", mount("../../testdata/wrong-piece-count.torrent", mnt()), 1, "piece hashes for"},
		{"missing piece length", mount("../../testdata/missing-piece-length.torrent", mnt()), 1, "piece length"},
		{"missing info", mount("../../testdata/missing-info.torrent", mnt()), 1, "no info dictionary"},
		{"bad magnet", mount("magnet:?xt=urn:btih:zzz", mnt()), 1, "bad magnet link"},
		{"magnet without info-hash", mount("magnet:?dn=x", mnt()), 1, "no info-hash"},
		{"missing mount point", mount(tor, filepath.Join(dir, "nope")), 1, "does not exist"},
		{"mount point is a file", mount(tor, file), 1, "not a directory"},
		{"mount point not empty", mount(tor, full), 1, "not empty"},
		{"mount point already mounted", mount(tor, "/proc"), 1, "already a mount point"},
		{"cache dir not writable", append([]string{"mount", "--cache-dir", filepath.Join(file, "cache"), tor, mnt()}, loopback...), 1, "cache dir"},
		{"port in use", []string{"mount", "--cache-dir", filepath.Join(dir, "cache2"), "--listen", busy.Addr().String(), "--no-dht", "--no-upnp", tor, mnt()}, 1, "address already in use"},
		{"create from nothing", []string{"create", "-o", filepath.Join(dir, "x.torrent"), filepath.Join(dir, "nope")}, 1, "no such file"},
		{"create from empty dir", []string{"create", "-o", filepath.Join(dir, "x.torrent"), empty}, 1, "no files to share"},
		{"create bad piece length", []string{"create", "--piece-length", "1000", "-o", filepath.Join(dir, "x.torrent"), file}, 1, "power of two"},
		{"create over a file", []string{"create", "-o", file, file}, 1, "exists: use -f"},
		{"seed wrong data", append([]string{"seed", tor, wrongData}, loopback...), 1, "none of the data"},
		{"seed dir for a file", append([]string{"seed", tor, empty}, loopback...), 1, "is a single file but"},
		{"seed missing data", append([]string{"seed", tor, filepath.Join(dir, "nope")}, loopback...), 1, "no such file"},
		{"cache too small", mount("--cache-max-size", "1M", tor, mnt()), 2, "the minimum is 64M"},
		{"cache without subcommand", []string{"cache"}, 2, "want ls, rm or verify"},
		{"cache bad subcommand", []string{"cache", "clean"}, 2, "want ls"},
		{"cache rm without torrent", []string{"cache", "rm", "--cache-dir", dir}, 2, "takes at least 1 argument"},
		{"cache rm unknown", []string{"cache", "rm", "--cache-dir", dir, "nope"}, 1, "no such torrent in the cache"},
		{"cache ls of a file", []string{"cache", "ls", "--cache-dir", file}, 1, "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := torrentfs(t, nil, tc.args...)
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			last := lines[len(lines)-1]
			if code != tc.code || !strings.HasPrefix(last, "torrentfs: ") || !strings.Contains(last, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and a last line \"torrentfs: …%s…\"", code, errOut, tc.code, tc.want)
			}
			if strings.Contains(errOut, "panic") {
				t.Errorf("panic:\n%s", errOut)
			}
		})
	}
}

// Without FUSE the mount fails at once with a message that says what to do: no /dev/fuse
// (a mount namespace with an empty /dev), no fusermount3 for a user, and no permission on
// /dev/fuse for a user.
func TestNoFUSE(t *testing.T) {
	tor, _, _ := swarm(t, "f.bin", 100<<10)

	// A directory the user nobody can use, with the binary and the torrent in it.
	dir, err := os.MkdirTemp("", "torrentfs-nobody")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, f := range []struct{ src, dst string }{{bin, "torrentfs"}, {tor, "f.torrent"}} {
		b, err := os.ReadFile(f.src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.dst), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"mnt", "cache"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
		os.Chown(filepath.Join(dir, d), 65534, 65534)
	}
	os.Mkdir(filepath.Join(dir, "rootcache"), 0o700) // a cache must belong to its user
	os.Chmod(dir, 0o755)
	mountArgs := func(cache string) []string {
		args := []string{filepath.Join(dir, "torrentfs"), "mount", "--cache-dir", filepath.Join(dir, cache), filepath.Join(dir, "f.torrent"), filepath.Join(dir, "mnt")}
		return append(args, loopback...)
	}
	args := mountArgs("cache")

	for _, tc := range []struct {
		name string
		cmd  *exec.Cmd
		args []string
		want string
	}{
		{"no /dev/fuse", exec.Command("unshare", "-m", "sh", "-c", `mount -t tmpfs none /dev && exec "$@"`, "sh"), mountArgs("rootcache"), "no /dev/fuse"},
		{"user without fusermount3", exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", "PATH=/nonexistent"), args, "fusermount3 not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cmd.Args = append(tc.cmd.Args, tc.args...)
			var stderr bytes.Buffer
			tc.cmd.Stderr = &stderr
			err := tc.cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("%v, stderr %q; want exit 1 and %q", err, stderr.String(), tc.want)
			}
		})
	}
	// With fusermount3 but no access to /dev/fuse, as on this machine's crw------- device.
	st, err := os.Stat("/dev/fuse")
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o006 != 0o006 {
		cmd := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "no permission to use /dev/fuse") {
			t.Errorf("user without access to /dev/fuse: %v, stderr %q", err, stderr.String())
		}
	}
}

// TestKill9Loop kills the mount with SIGKILL in the middle of a fast download, several
// times, and remounts on the same cache: Badger opens every time, and what the mount serves
// equals the source, first from the cache alone and then with the seeder back.
func TestKill9Loop(t *testing.T) {
	data := fetchtest.Payload(48<<20+123, 9)
	s := fetchtest.NewSwarm(t, "big.bin", []fetchtest.File{{Data: data}}, 256<<10)
	_, addr := s.StartSeeder(t)
	mnt, cacheDir := t.TempDir(), t.TempDir()
	args := append([]string{"mount", "--cache-dir", cacheDir, s.TorrentPath, mnt}, loopback...)
	file := filepath.Join(mnt, "big.bin")
	const rounds, step = 10, 4 << 20
	for i := range rounds {
		p := start(t, nil, append(args, "--peer", addr)...)
		p.waitReady(t)
		// A first read makes sure pieces complete; a second one keeps chunks arriving while
		// the process dies.
		off := int64(i) * step
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1<<20)
		if _, err := f.ReadAt(b, off); err != nil || !bytes.Equal(b, data[off:off+1<<20]) {
			t.Fatalf("round %d: read at %d: %v", i, off, err)
		}
		go io.Copy(io.Discard, io.NewSectionReader(f, off, 2*step))
		p.stop(t, syscall.SIGKILL)
		f.Close()
		// The dead process leaves its lock files behind; the next one must not mind.
		for _, lock := range []string{"LOCK", "torrentfs.lock"} {
			if _, err := os.Stat(filepath.Join(cacheDir, s.InfoHash, lock)); err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
		}
	}
	// Nobody online: everything the cache says it has is served, and equals the source.
	p := start(t, nil, args...)
	p.waitReady(t)
	var st syscall.Stat_t
	if err := syscall.Stat(file, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks == 0 {
		t.Fatalf("nothing cached after %d rounds", rounds)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < rounds*step; off += step {
		b := make([]byte, 1<<20)
		if _, err := f.ReadAt(b, off); err != nil || !bytes.Equal(b, data[off:off+1<<20]) {
			t.Fatalf("from the cache alone, read at %d: %v, equal %v", off, err, bytes.Equal(b, data[off:off+1<<20]))
		}
	}
	f.Close()
	p.stop(t, syscall.SIGINT)
	// With the seeder back, the whole file; what was complete is not downloaded again
	// (pieces being written when the process died are, whole).
	p = start(t, nil, append(args, "--peer", addr)...)
	p.waitReady(t)
	cached := statusMiB(t, cacheDir, mnt, "cached:")
	checkTree(t, mnt, map[string][]byte{"big.bin": data})
	down := statusMiB(t, cacheDir, mnt, "transfer:")
	t.Logf("%.1f MiB cached after the crashes; %.1f MiB downloaded for the other %.1f MiB",
		cached, down, float64(len(data))/(1<<20)-cached)
	if down > float64(len(data))/(1<<20)-cached+2 {
		t.Fatalf("downloaded %.1f MiB with %.1f of %.1f MiB cached", down, cached, float64(len(data))/(1<<20))
	}
	p.stop(t, syscall.SIGINT)
}

// statusMiB returns the first size on the line of `torrentfs status` that starts with
// label, in MiB.
func statusMiB(t *testing.T, cacheDir, mnt, label string) float64 {
	t.Helper()
	code, out, errOut := torrentfs(t, nil, "status", "--cache-dir", cacheDir, mnt)
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != label {
			continue
		}
		var n float64
		fmt.Sscan(f[1], &n)
		switch f[2] {
		case "GiB":
			return n * 1024
		case "MiB":
			return n
		case "KiB":
			return n / 1024
		}
		return n / (1 << 20)
	}
	t.Fatalf("no %q in status:\n%s", label, out)
	return 0
}

// waitStatus asks the mount (or @NAME serve instance) at mnt for its status over its control
// socket, as `torrentfs status` does, until ok accepts the report, for at most a minute, and
// returns that report.
func waitStatus(t testing.TB, mnt string, ok func(status.Report) bool) status.Report {
	t.Helper()
	ctl, err := dialControl(mnt)
	if err != nil {
		t.Fatal(err)
	}
	var r status.Report
	waitUntil(t, "the mount's status to be as wanted", func() bool {
		r = status.Report{}
		err = ctl.do(t.Context(), "GET", "/status", nil, &r)
		return err == nil && ok(r)
	})
	return r
}

// hasTorrent returns a status condition: a torrent called name is listed, and started
// (not dormant) if started is set.
func hasTorrent(name string, started bool) func(status.Report) bool {
	return func(r status.Report) bool {
		for _, tr := range r.Torrents {
			if tr.Name == name {
				return !started || !tr.Dormant
			}
		}
		return false
	}
}

// anyTorrent returns a status condition: a torrent listed satisfies ok.
func anyTorrent(ok func(status.Torrent) bool) func(status.Report) bool {
	return func(r status.Report) bool { return slices.ContainsFunc(r.Torrents, ok) }
}

// named is a status condition: torrents are listed, each with its metadata (a name).
func named(r status.Report) bool {
	for _, tr := range r.Torrents {
		if tr.Name == "" {
			return false
		}
	}
	return len(r.Torrents) > 0
}

// allCached is a status condition: every torrent listed has every byte cached.
func allCached(r status.Report) bool {
	for _, tr := range r.Torrents {
		if tr.Length == 0 || tr.Cached != tr.Length {
			return false
		}
	}
	return len(r.Torrents) > 0
}

// seedAddr waits until a `torrentfs seed` started by start seeds (READY=1), and returns the
// host:port it listens on.
func (p *proc) seedAddr(t testing.TB) string {
	t.Helper()
	p.waitReady(t)
	return p.listenAddr(t)
}

// listenAddr returns the host:port of the one TCP socket that the process, a seed or a mount
// without --http, listens on: its peer port, as the kernel lists it in /proc (the process is
// in the test's network namespace). A test that starts the process with --listen host:0
// learns its port so, from no log line.
func (p *proc) listenAddr(t testing.TB) string {
	t.Helper()
	pid := p.cmd.Process.Pid
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		to, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if inode, ok := strings.CutPrefix(to, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	var addrs []string
	for _, s := range tcpSockets(t, fmt.Sprint(pid)) {
		if s.state == tcpListen && inodes[s.inode] {
			addrs = append(addrs, s.local)
		}
	}
	if len(addrs) != 1 {
		t.Fatalf("%s listens on %v; want one TCP socket, its peer port", p.name, addrs)
	}
	return addrs[0]
}

// tcpSocket is a socket of the kernel's TCP tables, its addresses as host:port.
type tcpSocket struct {
	local, remote string
	state         string // in hex: tcpListen, tcpEstablished, …
	inode         string
}

// TCP states as /proc/net/tcp writes them.
const (
	tcpEstablished = "01"
	tcpTimeWait    = "06"
	tcpListen      = "0A"
)

// tcpSockets lists the TCP sockets, IPv4 and IPv6, of the network namespace of process pid
// ("self": the test's own), from /proc/PID/net/tcp{,6}.
func tcpSockets(t testing.TB, pid string) []tcpSocket {
	t.Helper()
	var ss []tcpSocket
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%s/net/%s", pid, table))
		if err != nil {
			t.Fatal(err)
		}
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		for _, line := range strings.Split(string(b), "\n")[1:] {
			if f := strings.Fields(line); len(f) >= 10 {
				ss = append(ss, tcpSocket{local: procAddr(t, f[1]), remote: procAddr(t, f[2]), state: f[3], inode: f[9]})
			}
		}
	}
	return ss
}

// procAddr turns a /proc/net/tcp{,6} address, the IP's 32-bit words in host order (little
// endian here) then the port, both in hex, into host:port.
func procAddr(t testing.TB, s string) string {
	t.Helper()
	hexIP, hexPort, _ := strings.Cut(s, ":")
	raw, err1 := hex.DecodeString(hexIP)
	port, err2 := strconv.ParseUint(hexPort, 16, 16)
	if err1 != nil || err2 != nil || len(raw)%4 != 0 {
		t.Fatalf("a /proc/net address %q", s)
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		ip[i], ip[i+1], ip[i+2], ip[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(port, 10))
}

// waitUntil polls cond every 10 ms until it holds, failing the test after a minute.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatalf("gave up waiting for %s: %v", what, t.Context().Err())
		}
	}
}
