package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/torrentfs/torrentfs/fetch"
)

// aria2Proc is a running aria2c; exited is closed when it has exited.
type aria2Proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// aria2 runs Debian's aria2c on 127.0.0.1 with DHT, local discovery and PEX off, on torrent,
// with its files under dir. It is stopped when the test ends.
func aria2(t *testing.T, torrent, dir string, args ...string) *aria2Proc {
	t.Helper()
	if _, err := exec.LookPath("aria2c"); err != nil {
		t.Fatal("aria2c not installed: run make deps")
	}
	p := freePort(t)
	cmd := exec.Command("aria2c",
		append([]string{
			"--interface=127.0.0.1", "--disable-ipv6",
			"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
			fmt.Sprintf("--listen-port=%d", p), "--bt-require-crypto=false",
			"--file-allocation=none", "--summary-interval=0", "--console-log-level=warn",
			"--dir", dir,
		}, append(args, torrent)...)...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &aria2Proc{cmd, make(chan struct{})}
	go func() { cmd.Wait(); close(a.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-a.exited
		if t.Failed() {
			t.Logf("aria2c %s:\n%s", strings.Join(cmd.Args[1:], " "), out.String())
		}
	})
	return a
}

// TestInterop runs torrentfs in a swarm of other clients: a torrent made by mktorrent, seeded
// by aria2, is read through a mount; then aria2 downloads the whole torrent from the mount
// alone, with opentracker introducing them.
func TestInterop(t *testing.T) {
	if _, err := exec.LookPath("mktorrent"); err != nil {
		t.Fatal("mktorrent not installed: run make deps")
	}
	dir := t.TempDir()
	files := sampleTree(t, dir)
	tor := filepath.Join(dir, "sample.torrent")

	// The tracker's whitelist needs the info-hash, which does not depend on the announce URL.
	ih := func() string {
		mi, _, err := fetch.LoadTorrentFile(tor)
		if err != nil {
			t.Fatal(err)
		}
		return mi.HashInfoBytes().HexString()
	}
	mk := func(announce string) {
		os.Remove(tor)
		out, err := exec.Command("mktorrent", "-l", "18", "-a", announce, "-o", tor, filepath.Join(dir, "sample")).CombinedOutput()
		if err != nil {
			t.Fatalf("mktorrent: %v\n%s", err, out)
		}
	}
	mk("http://127.0.0.1:1/announce")
	tport := opentracker(t, ih())
	mk(fmt.Sprintf("http://127.0.0.1:%d/announce", tport))

	seeder := aria2(t, tor, dir, "--check-integrity=true", "--seed-ratio=0.0")
	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), tor, mnt}, loopback...)...)
	m.waitFor(t, "msg=mounted")
	checkTree(t, mnt, files)

	// With the aria2 seeder gone, a new aria2 downloads everything from the mount.
	seeder.cmd.Process.Signal(syscall.SIGTERM)
	<-seeder.exited
	got := t.TempDir()
	leecher := aria2(t, tor, got, "--seed-time=0")
	select {
	case <-leecher.exited:
		if code := leecher.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("aria2c download from the mount: exit %d", code)
		}
	case <-m.done:
		t.Fatal("mount exited while aria2 downloaded")
	}
	checkTree(t, got, files)
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}
