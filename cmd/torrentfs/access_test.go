package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/internal/testnet"
)

// Another user is nobody, the Debian user that owns nothing.
const nobody = 65534

// probeEnv makes the test binary a probe: it does what the variable names to the path in
// its first argument, and exits (probeMain).
const probeEnv = "TORRENTFS_TEST_PROBE"

// probeMain does op to path: "stat", "readdir" (stdout: the names), "read" (stdout: the
// bytes) or "dial" (a unix socket). It exits 0 if op succeeded; otherwise it writes "errno
// N" if the error is an errno, and exits 1.
func probeMain(op, path string) int {
	var err error
	switch op {
	case "stat":
		_, err = os.Stat(path)
	case "readdir":
		var entries []fs.DirEntry
		if entries, err = os.ReadDir(path); err == nil {
			for _, e := range entries {
				fmt.Println(e.Name())
			}
		}
	case "read":
		var b []byte
		if b, err = os.ReadFile(path); err == nil {
			os.Stdout.Write(b)
		}
	case "dial":
		var c net.Conn
		if c, err = net.Dial("unix", path); err == nil {
			c.Close()
		}
	default:
		err = fmt.Errorf("unknown probe %q", op)
	}
	if err == nil {
		return 0
	}
	if errno, ok := errors.AsType[syscall.Errno](err); ok {
		fmt.Printf("errno %d", int(errno))
	}
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// asNobody runs commands as the user nobody, with the test binary as a probe.
type asNobody struct {
	t     *testing.T
	probe string // a link to (or a copy of) the test binary, which nobody may run
}

// newAsNobody needs root, to be someone else, and a copy of the test binary where nobody
// can run it: go test builds it in a directory only its user can enter.
func newAsNobody(t *testing.T) *asNobody {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("this test mounts as root and reads as another user: run it as root (uid is %d)", os.Geteuid())
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(openDir(t), "probe")
	if err := os.Link(exe, probe); err != nil {
		copyFile(t, exe, probe)
		if err := os.Chmod(probe, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &asNobody{t: t, probe: probe}
}

// openDir returns a new directory that every user may enter: t.TempDir's parent is its
// user's alone.
func openDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// run runs name with args as nobody, in /, with an environment of nobody's, and returns
// its exit code, stdout and stderr.
func (a *asNobody) run(env []string, name string, args ...string) (int, []byte, string) {
	a.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = "/"
	cmd.Env = append([]string{"HOME=/nonexistent", "PATH=/usr/bin:/bin"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := errors.AsType[*exec.ExitError](err); err != nil && !ok {
		a.t.Fatalf("run %s as nobody: %v", name, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.Bytes(), stderr.String()
}

// do runs the probe op on path as nobody and returns its output, and the errno it failed
// with, or 0.
func (a *asNobody) do(op, path string) ([]byte, syscall.Errno) {
	a.t.Helper()
	code, out, errOut := a.run([]string{probeEnv + "=" + op}, a.probe, path)
	if code == 0 {
		return out, 0
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(out), "errno "))
	if err != nil {
		a.t.Fatalf("%s %s as nobody: exit %d, %q, %s", op, path, code, out, errOut)
	}
	return nil, syscall.Errno(n)
}

// denied fails the test unless nobody gets EACCES doing op to path.
func (a *asNobody) denied(op, path string) {
	a.t.Helper()
	if out, errno := a.do(op, path); errno != syscall.EACCES {
		a.t.Fatalf("%s %s as nobody: errno %d (%v), %d bytes; want %v", op, path, errno, errno, len(out), syscall.EACCES)
	}
}

// checkMode fails the test unless path is owned by us with exactly mode perm (and type).
func checkMode(t *testing.T, path string, mode fs.FileMode) {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode() != mode {
		t.Fatalf("%s has mode %v; want %v", path, st.Mode(), mode)
	}
	if uid := st.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Getuid() {
		t.Fatalf("%s belongs to uid %d; want %d", path, uid, os.Getuid())
	}
}

// TestLogFileMode checks that --log-file makes a new log its user's alone (it names
// torrents, paths and peers), and that a log that exists keeps its mode and is appended to.
// The log is seed's: it logs, then fails, as none of the local data matches the torrent.
func TestLogFileMode(t *testing.T) {
	data := fetchtest.Payload(100<<10+3, 7)
	s := fetchtest.NewSwarm(t, "f.bin", []fetchtest.File{{Data: data}}, 16<<10)
	dir := t.TempDir()
	wrong := filepath.Join(dir, "f.bin")
	if err := os.WriteFile(wrong, make([]byte, len(data)), 0o644); err != nil {
		t.Fatal(err)
	}
	seed := func(log string) string {
		t.Helper()
		code, _, errOut := torrentfs(t, nil, append([]string{"seed", "--log-file", log, s.TorrentPath, wrong}, loopback...)...)
		if code != 1 || !strings.Contains(errOut, "none of the data") {
			t.Fatalf("seed of data that does not match: exit %d, %q; want exit 1 and that none matches", code, errOut)
		}
		b, err := os.ReadFile(log)
		if err != nil || !strings.Contains(string(b), "msg=\"verifying local data\"") {
			t.Fatalf("log file %s: %v\n%s", log, err, b)
		}
		return string(b)
	}

	fresh := filepath.Join(dir, "new.log")
	seed(fresh)
	checkMode(t, fresh, 0o600)

	old := filepath.Join(dir, "old.log")
	if err := os.WriteFile(old, []byte("before\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(old, 0o640); err != nil { // whatever the umask
		t.Fatal(err)
	}
	if b := seed(old); !strings.HasPrefix(b, "before\n") {
		t.Fatalf("the log that existed was not appended to:\n%s", b)
	}
	checkMode(t, old, 0o640)
}

// TestCacheDirOwner checks that the cache directory is its user's own. Without $HOME and
// $XDG_CACHE_HOME the default is torrentfs-cache-UID in $TMPDIR, made with mode 0700. A
// cache directory that belongs to another user, given or default, is refused with what to
// do, and so is a symlink at the default in $TMPDIR; a directory of one's own, or a symlink
// to one given with --cache-dir, is taken unless others may write in it.
func TestCacheDirOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("this test gives a directory to another user: run it as root (uid is %d)", os.Geteuid())
	}
	tor := fetchtest.NewSwarm(t, "f.bin", []fetchtest.File{{Data: fetchtest.Payload(64<<10+1, 3)}}, 16<<10).TorrentPath
	mnt := t.TempDir()
	tmp := t.TempDir()
	noHome := []string{"HOME=", "XDG_CACHE_HOME=", "TMPDIR=" + tmp}
	fallback := filepath.Join(tmp, fmt.Sprintf("torrentfs-cache-%d", os.Geteuid()))
	refused := func(env []string, want string, args ...string) {
		t.Helper()
		code, _, errOut := torrentfs(t, env, args...)
		if code != 1 || !strings.Contains(errOut, "torrentfs: "+want+"\n") {
			t.Fatalf("torrentfs %s: exit %d, %q; want exit 1 and %q", strings.Join(args, " "), code, errOut, want)
		}
		if mounted(mnt) {
			t.Fatalf("torrentfs %s mounted %s", strings.Join(args, " "), mnt)
		}
	}
	ok := func(env []string, args ...string) {
		t.Helper()
		if code, out, errOut := torrentfs(t, env, args...); code != 0 || !strings.HasPrefix(out, "INFOHASH") {
			t.Fatalf("torrentfs %s: exit %d, %q, %q; want the cache's (empty) list", strings.Join(args, " "), code, out, errOut)
		}
	}
	notYours := func(dir string) string {
		return fmt.Sprintf("cache dir %s belongs to uid %d, not you (uid %d): remove it or use --cache-dir", dir, nobody, os.Geteuid())
	}
	mount := func(flags ...string) []string {
		return append(append(append([]string{"mount"}, flags...), tor, mnt), loopback...)
	}

	// A $XDG_CACHE_HOME that cannot be used is said so, not replaced by the fallback.
	refused([]string{"XDG_CACHE_HOME=relative/cache", "TMPDIR=" + tmp}, "cache dir: path in $XDG_CACHE_HOME is relative: make it an absolute path or use --cache-dir", mount()...)
	if _, err := os.Stat(fallback); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the fallback %s was made for a relative $XDG_CACHE_HOME: %v", fallback, err)
	}

	// The default without $HOME is made, ours alone.
	ok(noHome, "cache", "ls")
	checkMode(t, fallback, fs.ModeDir|0o700)

	// Another user made it first: refused.
	if err := os.Chown(fallback, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	refused(noHome, notYours(fallback), "cache", "ls")
	refused(noHome, notYours(fallback), mount()...)

	// Or planted a symlink there, even to a directory of ours: refused.
	own := t.TempDir()
	if err := os.Remove(fallback); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(own, fallback); err != nil {
		t.Fatal(err)
	}
	symlink := fmt.Sprintf("cache dir %s is a symlink: remove it or use --cache-dir", fallback)
	refused(noHome, symlink, "cache", "ls")
	refused(noHome, symlink, mount()...)

	// --cache-dir: another user's directory is refused, one's own taken whatever its mode,
	// also through a symlink.
	theirs := t.TempDir()
	if err := os.Chown(theirs, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	refused(nil, notYours(theirs), "cache", "ls", "--cache-dir", theirs)
	refused(nil, notYours(theirs), mount("--cache-dir", theirs)...)
	if err := os.Chmod(own, 0o755); err != nil {
		t.Fatal(err)
	}
	ok(nil, "cache", "ls", "--cache-dir", own)
	ok(nil, "cache", "ls", "--cache-dir", fallback)

	// One that others may write in is refused: they could plant a database or a symlink.
	if err := os.Chmod(own, 0o777); err != nil {
		t.Fatal(err)
	}
	writable := fmt.Sprintf("cache dir %s is writable by other users (mode 0777): chmod 700 it or use --cache-dir", own)
	refused(nil, writable, "cache", "ls", "--cache-dir", own)
	refused(nil, writable, mount("--cache-dir", own)...)
}

// TestNoWayIn checks that without --allow-other another user can neither read a mount nor
// ask it anything, and that the cache directory, default or given, and the control socket
// are their user's alone; with --allow-other, the other user reads the files, and still
// cannot reach the control socket.
func TestNoWayIn(t *testing.T) {
	other := newAsNobody(t)
	tor, data, addr := swarm(t, "f.bin", 1<<20+3)
	base := openDir(t)

	// The default cache directory, made by the mount, and the control socket.
	xdg := filepath.Join(base, "xdg")
	mnt := filepath.Join(base, "private")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	m := start(t, []string{"XDG_CACHE_HOME=" + xdg}, append([]string{"mount", "--peer", addr, tor, mnt}, loopback...)...)
	m.waitReady(t)
	checkTree(t, mnt, map[string][]byte{"f.bin": data})
	cacheDir := filepath.Join(xdg, "torrentfs")
	checkMode(t, xdg, fs.ModeDir|0o700)
	checkMode(t, cacheDir, fs.ModeDir|0o700)
	torrentDirs, err := filepath.Glob(filepath.Join(cacheDir, "*"))
	if err != nil || len(torrentDirs) == 0 {
		t.Fatalf("nothing in the cache directory %s (%v)", cacheDir, err)
	}
	for _, d := range torrentDirs {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			checkMode(t, d, fs.ModeDir|0o700)
		}
	}
	id, _, err := mountID(mnt)
	if err != nil {
		t.Fatal(err)
	}
	sock := controlSocket(id)
	checkMode(t, filepath.Dir(sock), fs.ModeDir|0o700)
	checkMode(t, sock, fs.ModeSocket|0o600)
	if code, out, errOut := torrentfs(t, nil, "status", mnt); code != 0 || !strings.Contains(out, "f.bin") {
		t.Fatalf("status as its user: exit %d, %q, %s", code, out, errOut)
	}

	// Another user: the mount, its files, the socket and the cache are closed to them.
	other.denied("stat", mnt)
	other.denied("readdir", mnt)
	other.denied("read", filepath.Join(mnt, "f.bin"))
	other.denied("dial", sock)
	other.denied("readdir", cacheDir)
	code, _, errOut := other.run(nil, bin, "status", mnt)
	if code != 1 || !strings.Contains(errOut, "another user's mount (uid 0)") {
		t.Fatalf("status as nobody: exit %d, %q; want exit 1 and that it is another user's mount", code, errOut)
	}
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}

	// --allow-other: another user reads the files, and only them. The cache directory given,
	// made by the mount, is its user's alone.
	cacheDir = filepath.Join(base, "cache")
	m = start(t, nil, append([]string{"mount", "--allow-other", "--cache-dir", cacheDir, "--peer", addr, tor, mnt}, loopback...)...)
	m.waitReady(t)
	checkMode(t, cacheDir, fs.ModeDir|0o700)
	if out, errno := other.do("readdir", mnt); errno != 0 || string(out) != "f.bin\n" {
		t.Fatalf("readdir of an --allow-other mount as nobody: %q, errno %d (%v)", out, errno, errno)
	}
	if out, errno := other.do("read", filepath.Join(mnt, "f.bin")); errno != 0 || !bytes.Equal(out, data) {
		t.Fatalf("read of an --allow-other mount as nobody: %d bytes, errno %d (%v); want the %d of the source",
			len(out), errno, errno, len(data))
	}
	id, _, err = mountID(mnt)
	if err != nil {
		t.Fatal(err)
	}
	other.denied("dial", controlSocket(id))
	other.denied("readdir", cacheDir)
	if code, _, errOut := other.run(nil, bin, "status", mnt); code != 1 || !strings.Contains(errOut, "another user's mount (uid 0)") {
		t.Fatalf("status of an --allow-other mount as nobody: exit %d, %q", code, errOut)
	}
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

// TestNoWayOut checks, run as root, that these tests, the torrentfs processes they start and
// third-party clients are all in the network namespace testnet made, whose only interface is
// loopback, and that the mount and its control socket work there. Run as another user, the
// tests run where they were started.
func TestNoWayOut(t *testing.T) {
	if root := os.Geteuid() == 0; testnet.Isolated() != root {
		t.Fatalf("uid %d, isolated %v: the tests are isolated when, and only when, run as root", os.Geteuid(), testnet.Isolated())
	} else if !root {
		return
	}
	netns := func(pid int) string {
		t.Helper()
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}
	ours := netns(os.Getpid())
	if parent := netns(os.Getppid()); parent == ours {
		t.Fatalf("the tests share %s with the process that started them", ours)
	}
	if ifs, err := net.Interfaces(); err != nil || len(ifs) != 1 || ifs[0].Name != "lo" {
		t.Fatalf("interfaces %v (%v); want lo alone", ifs, err)
	}

	tor, data, addr := swarm(t, "f.bin", 1<<20+5)
	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--peer", addr, tor, mnt}, loopback...)...)
	m.waitReady(t)
	checkTree(t, mnt, map[string][]byte{"f.bin": data})
	if code, out, errOut := torrentfs(t, nil, "status", mnt); code != 0 || !strings.Contains(out, "f.bin") {
		t.Fatalf("status: exit %d, %q, %s", code, out, errOut)
	}
	lt, _ := libtorrent(t, tor, t.TempDir())
	for _, p := range []*proc{m, lt} {
		if ns := netns(p.cmd.Process.Pid); ns != ours {
			t.Fatalf("%s runs in %s, the tests in %s", p.name, ns, ours)
		}
	}
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}
