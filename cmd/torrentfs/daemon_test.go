package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The TestDaemon tests run torrentfs as a service would: from mount(8) and as a systemd
// Type=notify service. go test ./cmd/torrentfs/ -run TestDaemon

// helperLink is where the test puts torrentfs for fuse3's mount helper, which looks for it
// in /usr/local/sbin first.
const helperLink = "/usr/local/sbin/torrentfs"

// linkForMountHelper makes helperLink a symlink to the test binary until the test ends. A
// file of that name that is not a test binary's link is left alone and fails the test.
func linkForMountHelper(t *testing.T) {
	t.Helper()
	if to, err := os.Readlink(helperLink); err == nil {
		// A link to a test binary is ours, left by a run that was killed.
		if ok, _ := filepath.Match(filepath.Join(os.TempDir(), "torrentfs-bin*", "torrentfs"), to); !ok {
			t.Fatalf("%s exists and links to %s, not to a torrentfs test binary: remove it to run this test", helperLink, to)
		}
		os.Remove(helperLink)
	} else if _, err := os.Lstat(helperLink); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s exists and is not a torrentfs test binary's link (%v): remove it to run this test", helperLink, err)
	}
	if err := os.Symlink(bin, helperLink); err != nil {
		t.Fatalf("the mount helper needs torrentfs on its PATH: %v", err)
	}
	t.Cleanup(func() { os.Remove(helperLink) })
}

// daemonOf returns the pid of the test binary's `torrentfs mount` process for mnt, found in
// /proc by its program and arguments.
func daemonOf(t *testing.T, mnt string) int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe != bin {
			continue
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		if len(args) > 3 && args[1] == "mount" && args[3] == mnt {
			return pid
		}
	}
	t.Fatalf("no torrentfs mount process for %s", mnt)
	return 0
}

// pidfd opens a process we did not start as a child, to wait for its end. The test kills
// it if it still runs when the test ends.
func pidfd(t *testing.T, pid int) int {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !exited(fd, 0) {
			unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			exited(fd, 10*time.Second)
		}
		unix.Close(fd)
	})
	return fd
}

// exited waits up to d for the process of a pidfd to exit and reports whether it did.
func exited(fd int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(time.Until(deadline).Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		return err == nil && n == 1
	}
}

// mount -t fuse.torrentfs returns once the file system is served, by a daemon that logs to
// the -o log_file and ends when umount unmounts it.
func TestDaemonMountHelper(t *testing.T) {
	linkForMountHelper(t)
	tor, data, addr := swarm(t, "f.bin", 3<<20+5)
	mnt, cacheDir := t.TempDir(), t.TempDir()
	logFile := filepath.Join(t.TempDir(), "mount.log")
	t.Cleanup(func() { detachIfMounted([]string{mnt}) })
	opts := strings.Join([]string{"cache_dir=" + cacheDir, "listen=127.0.0.1:0", "no_dht", "no_upnp", "no_pex", "peer=" + addr,
		"log_file=" + logFile, "nodev", "nosuid", "noatime", "_netdev", "x-systemd.automount", "uid=0", "umask=022"}, ",")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Output collected through a pipe: mount must return without the daemon holding it.
	out, err := exec.CommandContext(ctx, "mount", "-t", "fuse.torrentfs", tor, mnt, "-o", opts).CombinedOutput()
	if err != nil {
		t.Fatalf("mount -t fuse.torrentfs: %v\n%s", err, out)
	}
	if !mounted(mnt) {
		t.Fatalf("mount returned, but %s is not mounted", mnt)
	}
	fd := pidfd(t, daemonOf(t, mnt))
	checkTree(t, mnt, map[string][]byte{"f.bin": data})
	if code, out, errOut := torrentfs(t, nil, "status", "--cache-dir", cacheDir, mnt); code != 0 || !strings.Contains(out, "f.bin") {
		t.Fatalf("status: exit %d, %q, %q", code, out, errOut)
	}
	if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	if !exited(fd, time.Minute) {
		t.Fatal("the daemon still runs a minute after umount")
	}
	b, err := os.ReadFile(logFile)
	if err != nil || !strings.Contains(string(b), "msg=mounted") || !strings.Contains(string(b), "unmounted from outside") {
		t.Fatalf("log file: %v\n%s", err, b)
	}
}

// A background mount that fails says why on stderr and exits as the mount would.
func TestDaemonMountErrors(t *testing.T) {
	tor, _, _ := swarm(t, "f.bin", 100<<10)
	dir := t.TempDir()
	opts := "cache_dir=" + filepath.Join(dir, "cache") + ",listen=127.0.0.1:0,no_dht,no_upnp,no_pex"
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing torrent", []string{filepath.Join(dir, "nope.torrent"), t.TempDir(), "-o", opts}, 1, "no such file"},
		{"missing mount point", []string{tor, filepath.Join(dir, "nope"), "-o", opts}, 1, "does not exist"},
		{"unknown option", []string{tor, t.TempDir(), "-o", opts + ",frobnicate"}, 2, `unknown mount option "frobnicate"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := torrentfs(t, nil, tc.args...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != tc.code || stdout != "" || !strings.HasPrefix(lines[len(lines)-1], "torrentfs: ") || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and \"torrentfs: …%s…\"", code, stdout, stderr, tc.code, tc.want)
			}
		})
	}
}

// A mount started by systemd as a Type=notify service says READY=1 once it serves the
// file system and STOPPING=1 on SIGTERM, then unmounts and exits 0. The socket may be a
// path or, with '@', an abstract name.
func TestDaemonSystemdNotify(t *testing.T) {
	tor, data, addr := swarm(t, "f.bin", 1<<20+3)
	for _, name := range []string{filepath.Join(t.TempDir(), "notify"), fmt.Sprintf("@torrentfs-test-%d", os.Getpid())} {
		conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		mnt := t.TempDir()
		p := start(t, []string{"NOTIFY_SOCKET=" + name},
			append([]string{"mount", "--cache-dir", t.TempDir(), "--peer", addr, tor, mnt}, loopback...)...)
		if got := notifyMessage(t, conn, p); got != "READY=1" {
			t.Fatalf("%s: first message %q; want READY=1", name, got)
		}
		if !mounted(mnt) {
			t.Fatalf("READY=1 before %s is mounted", mnt)
		}
		checkTree(t, mnt, map[string][]byte{"f.bin": data})
		p.cmd.Process.Signal(syscall.SIGTERM)
		if got := notifyMessage(t, conn, p); got != "STOPPING=1" {
			t.Fatalf("%s: after SIGTERM %q; want STOPPING=1", name, got)
		}
		if code := p.wait(t); code != 0 || mounted(mnt) {
			t.Fatalf("after SIGTERM: exit %d, mounted %v", code, mounted(mnt))
		}
	}
}

// notifyMessage returns the next datagram on conn, failing if none comes in a minute.
func notifyMessage(t *testing.T, conn *net.UnixConn, p *proc) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	b := make([]byte, 4096)
	n, err := conn.Read(b)
	if err != nil {
		t.Fatalf("no notification: %v\n%s", err, p.output())
	}
	return string(b[:n])
}

// A source and a mount point where a command would be ask for a background mount; a
// command, a flag or a single word do not.
// (No mount: go test ./cmd/torrentfs/ -run TestCLIBackgroundArgs.)
func TestCLIBackgroundArgs(t *testing.T) {
	root := newRootCmd(nil, nil)
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"file.torrent", "/mnt/x"}, true},
		{[]string{"file.torrent", "/mnt/x", "-o", "rw,allow_other"}, true},
		{[]string{"magnet:?xt=urn:btih:x", "/mnt/x", "--cache-dir", "c"}, true},
		{[]string{"mount", "file.torrent", "/mnt/x"}, false},
		{[]string{"status", "/mnt/x"}, false},
		{[]string{"help", "mount"}, false},
		{[]string{"__complete", ""}, false},
		{[]string{"__complete", "mount", "x"}, false},
		{[]string{"__completeNoDesc", "x", "y"}, false},
		{[]string{"frobnicate"}, false},
		{[]string{"--help"}, false},
		{[]string{"file.torrent", "--help"}, false},
		{nil, false},
	} {
		if got := isBackgroundMount(root, tc.args); got != tc.want {
			t.Errorf("%q: background mount %v; want %v", tc.args, got, tc.want)
		}
	}
}
