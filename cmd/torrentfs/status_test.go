package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/creack/pty"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/status"
)

// startPTY runs torrentfs with args on a terminal of its own, as a user at a shell would,
// and collects what it draws there in lines (ended by a newline or a carriage return).
func startPTY(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "TERM=xterm", "NO_COLOR="), env...)
	var ready chan struct{}
	if args[0] == "mount" && !slices.ContainsFunc(env, func(v string) bool { return strings.HasPrefix(v, "NOTIFY_SOCKET=") }) {
		var sock string
		sock, ready = readinessSocket(t)
		cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+sock)
	}
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 160, Rows: 40})
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{name: "torrentfs on a terminal", cmd: cmd, done: make(chan struct{}), ready: ready, changed: make(chan struct{})}
	go p.collect(tty) // ends when the process has exited and closed the terminal
	p.cleanup(t, func() {
		if args[0] == "mount" {
			detachIfMounted(args)
		}
	})
	return p
}

// TestStatusReport reads the start of a file through a mount whose peers, Transmission,
// aria2 and libtorrent, are found through a tracker, and checks what status shows: the
// peers by their clients' names, the piece map, rates, ratio and per-file progress; in
// colour on a terminal, plain in a pipe; and the same as JSON.
func TestStatusReport(t *testing.T) {
	dir := t.TempDir()
	data := writePayload(t, filepath.Join(dir, "film.bin"), 32<<20, 16)
	// 128 pieces of 256 KiB: far more than the read and its readahead, so that the seeders
	// stay connected to a mount that is not complete.
	tor := thirdPartySwarm(t, dir, "film.bin")
	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--log-level", "debug", tor, mnt}, loopback...)...)
	m.waitReady(t)
	file := filepath.Join(mnt, "film.bin")
	readEqual(t, file, 0, data[:3<<20])

	// The clients say who they are in their extended handshakes, which status shows.
	var last []fetch.Peer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the mount's peers when status was last asked: %+v", last)
		}
	})
	waitStatus(t, mnt, func(r status.Report) bool {
		if len(r.Torrents) != 1 {
			return false
		}
		last = r.Torrents[0].PeerList
		for _, client := range []string{"Transmission 3.00", "aria2/1.36", "libtorrent/"} {
			if !slices.ContainsFunc(r.Torrents[0].PeerList, func(p fetch.Peer) bool { return strings.HasPrefix(p.Client, client) }) {
				return false
			}
		}
		return true
	})
	code, out, errOut := torrentfs(t, nil, "status", mnt)
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Transmission 3.00", "aria2/1.36", "libtorrent/", "torrent:  film.bin", "peers:    3 connected, 3 seeders", "rates:    ", " read\n",
		"(ratio ", "pieces:   128 of 256.0 KiB each\n", "# cached  = downloading  - wanted  . missing", "film.bin (32.0 MiB)"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in status:\n%s", want, out)
		}
	}
	// How the start went: the tracker, the first peer, the first piece and who sent it.
	if !regexp.MustCompile(`started:  tracker answered after [0-9.]+m?s, first peer after [0-9.]+m?s, first piece after [0-9.]+m?s \(from (Transmission 3.00|aria2/1.36.0|libtorrent/[0-9.]+)\)\n`).MatchString(out) {
		t.Errorf("no line of the first contact in status:\n%s", out)
	}
	// Two lines of 64 cells, a piece each: the first 12 pieces were read; a readahead
	// window follows them, and beyond it pieces are missing.
	var pieceMap string
	for _, l := range strings.Split(out, "\n") {
		if len(l) == 2+64 && strings.Trim(l, " #=-.") == "" {
			pieceMap += strings.TrimSpace(l)
		}
	}
	if len(pieceMap) != 128 || !strings.HasPrefix(pieceMap, strings.Repeat("#", 12)) || !strings.Contains(pieceMap, ".") {
		t.Errorf("piece map %q: want 12 cached pieces first, and some missing:\n%s", pieceMap, out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("status in a pipe has colours:\n%q", out)
	}

	// On a terminal, the map is in colour.
	st := startPTY(t, nil, "status", mnt)
	if code := st.wait(t); code != 0 || !strings.Contains(st.output(), "\x1b[32m█") {
		t.Fatalf("status on a terminal: exit %d, no green cell:\n%q", code, st.output())
	}

	code, js, errOut := torrentfs(t, nil, "status", "--json", mnt)
	var r []mountStatus
	if err := json.Unmarshal([]byte(js), &r); code != 0 || err != nil || len(r) != 1 || len(r[0].Torrents) != 1 {
		t.Fatalf("status --json: exit %d, %v, %s:\n%s", code, err, errOut, js)
	}
	ts := r[0].Torrents[0]
	if ts.Pieces != 128 || len(ts.PieceMap) != 128 || !strings.HasPrefix(ts.PieceMap, strings.Repeat("1", 12)) || len(ts.PeerList) != 3 ||
		ts.Read < 3<<20 || ts.Downloaded < 3<<20 || len(ts.Files) != 1 || ts.Files[0].Path != "film.bin" {
		t.Fatalf("status --json: %+v", ts)
	}
	// Each at the address of its own that the tracker handed out.
	addrs := map[string]bool{}
	for _, p := range ts.PeerList {
		host, _, err := net.SplitHostPort(p.Addr)
		if ip := net.ParseIP(host); p.Client == "" || p.Have != 1 || err != nil || ip.To4() == nil || !ip.IsLoopback() || ip.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("peer %+v: want a client name, all pieces and a loopback address of its own", p)
		}
		addrs[host] = true
	}
	if len(addrs) != len(ts.PeerList) {
		t.Errorf("status --json: peers share addresses: %+v", ts.PeerList)
	}
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

// TestLiveLine mounts on a terminal: a status line under the log shows what is cached and
// what is being read, and goes when the mount ends; -q keeps only warnings and no line; -v
// adds the debug log; in a pipe, there is no line and no terminal codes. What the terminal
// shows is what this checks: it is read once the mount has ended, but for the line drawn
// while a file is read, which only a wait on the terminal can catch.
func TestLiveLine(t *testing.T) {
	tor, data, addr := swarm(t, "f.bin", 8<<20)
	mount := func(env []string, extra ...string) (*proc, string) {
		mnt := t.TempDir()
		args := append([]string{"mount", "--cache-dir", t.TempDir(), "--peer", addr}, extra...)
		return startPTY(t, env, append(append(args, tor, mnt), loopback...)...), mnt
	}
	unmount := func(p *proc, mnt string) {
		t.Helper()
		if out, err := exec.Command("fusermount3", "-u", mnt).CombinedOutput(); err != nil {
			t.Fatalf("fusermount3 -u: %v: %s", err, out)
		}
		if code := p.wait(t); code != 0 {
			t.Fatalf("mount: exit %d:\n%s", code, p.output())
		}
	}

	p, mnt := mount(nil)
	p.waitReady(t)
	p.wantLogged(t, "INFO  mounted ") // written before READY=1
	streamEqual(t, filepath.Join(mnt, "f.bin"), data)
	// A log wait: the line is redrawn every second, and shows the read only for a few
	// seconds after it; no event says it was drawn.
	p.waitFor(t, "8.0 MiB of 8.0 MiB cached · reading f.bin at ")
	unmount(p, mnt)
	if out := p.output(); !strings.HasSuffix(out, "\x1b[K") {
		t.Errorf("the status line is not cleared at exit:\n%q", out[max(0, len(out)-300):])
	}

	// The line is drawn as soon as the mount is ready, and again, cleared, as it ends:
	// unmounted with nothing read, it showed nothing cached.
	p, mnt = mount(nil, "-v")
	p.waitReady(t)
	unmount(p, mnt)
	p.wantLogged(t, "DEBUG ")
	p.wantLogged(t, "0 B of 8.0 MiB cached")

	// -q says nothing when mounted; the service manager's notification (notify.go) does.
	notify := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p, mnt = mount([]string{"NOTIFY_SOCKET=" + notify}, "-q")
	if got := notifyMessage(t, conn, p); got != "READY=1" {
		t.Fatalf("-q: first notification %q, want READY=1", got)
	}
	streamEqual(t, filepath.Join(mnt, "f.bin"), data)
	unmount(p, mnt)
	if out := p.output(); strings.Contains(out, "INFO") || strings.Contains(out, "cached") {
		t.Errorf("-q: want no info lines and no status line, got:\n%s", out)
	}

	// In a pipe: the log's lines only.
	mnt = t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--peer", addr, tor, mnt}, loopback...)...)
	m.waitReady(t)
	streamEqual(t, filepath.Join(mnt, "f.bin"), data)
	if code := m.stop(t, syscall.SIGINT); code != 0 || strings.Contains(m.output(), "\x1b") {
		t.Fatalf("mount in a pipe: exit %d, output with terminal codes:\n%q", code, m.output())
	}
}

// TestTerminalClean mounts a torrent whose name and file path hold a clear-screen sequence,
// a bell and a right-to-left override, and reads it: ls, status and the mount's own log and
// live line show them escaped, in a pipe and on a terminal, never raw. status --json keeps
// them as they are, JSON-escaped.
func TestTerminalClean(t *testing.T) {
	const name, elem = "evil\x1b[2J\a\u202etxt.exe", "sub\x1b]0;owned\a\u2066"
	const escName, escElem = `evil\x1b[2J\x07\u202etxt.exe`, `sub\x1b]0;owned\x07\u2066`
	data := fetchtest.Payload(1<<20+3, 21)
	s := fetchtest.NewSwarm(t, name, []fetchtest.File{{Path: []string{elem, "f\a.bin"}, Data: data}}, 256<<10)
	_, addr := s.StartSeeder(t)
	raw := func(what, out string) {
		t.Helper()
		for _, bad := range []string{"\x1b[2J", "\x1b]", "\a", "\u202e", "\u2066"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s holds %q raw:\n%q", what, bad, out)
			}
		}
	}
	mnt := t.TempDir()
	m := startPTY(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--peer", addr, s.TorrentPath, mnt}, loopback...)...)
	m.waitReady(t)
	streamEqual(t, filepath.Join(mnt, name, elem, "f\a.bin"), data)
	// The live line, escaped, is what this checks. A log wait: it shows the read only for a
	// few seconds after it, redrawn every second; no event says it was drawn.
	m.waitFor(t, "reading "+escName)

	for _, args := range [][]string{{"ls", mnt}, {"status", mnt}} {
		code, out, errOut := torrentfs(t, nil, args...)
		if code != 0 || !strings.Contains(out, escName) {
			t.Fatalf("%s in a pipe: exit %d, %s, no %q:\n%s", args[0], code, errOut, escName, out)
		}
		if args[0] == "status" && !strings.Contains(out, escElem+`/f\x07.bin`) {
			t.Errorf("status in a pipe: no %q:\n%s", escElem+`/f\x07.bin`, out)
		}
		raw(args[0]+" in a pipe", out)
		p := startPTY(t, nil, args...)
		if code := p.wait(t); code != 0 || !strings.Contains(p.output(), escName) {
			t.Fatalf("%s on a terminal: exit %d, no %q:\n%s", args[0], code, escName, p.output())
		}
		raw(args[0]+" on a terminal", p.output())
	}
	code, js, _ := torrentfs(t, nil, "status", "--json", mnt)
	var r []mountStatus
	if err := json.Unmarshal([]byte(js), &r); code != 0 || err != nil || len(r) != 1 || len(r[0].Torrents) != 1 || r[0].Torrents[0].Name != name {
		t.Fatalf("status --json: exit %d, %v: the name is not kept as it is:\n%s", code, err, js)
	}
	if out, err := exec.Command("fusermount3", "-u", mnt).CombinedOutput(); err != nil {
		t.Fatalf("fusermount3 -u: %v: %s", err, out)
	}
	if code := m.wait(t); code != 0 {
		t.Fatalf("mount: exit %d:\n%s", code, m.output())
	}
	raw("the mount's log and live line", m.output())
}
