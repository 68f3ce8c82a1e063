package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// craftedRSS bounds the peak RSS (VmHWM) of a mount of one crafted torrent, listed whole:
// 500 MiB (100,000 files took 271 MiB), and 1 GiB for a torrent of fetch.MaxPieces (2^20)
// pieces, for which anacrolix keeps some 650 bytes each (measured: 714 MiB).
func craftedRSS(name string) int64 {
	if name == "2^50-bytes" {
		return 1 << 30
	}
	return 500 << 20
}

// Each crafted torrent (fetchtest.CraftedTorrents) is mounted, and its tree walked (every
// entry stat'ed), within craftedRSS and a minute; or refused with exit status 1 and one line saying why.
func TestCrafted(t *testing.T) {
	dir := t.TempDir()
	for _, c := range fetchtest.CraftedTorrents() {
		t.Run(c.Name, func(t *testing.T) {
			tor := filepath.Join(dir, c.Name+".torrent")
			if err := c.Write(tor); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(tor)
			mnt := t.TempDir()
			args := append([]string{"mount", "--cache-dir", t.TempDir(), tor, mnt}, loopback...)
			began := time.Now()
			if c.Refused {
				code, _, stderr := torrentfs(t, nil, args...)
				lines := strings.Split(strings.TrimSpace(stderr), "\n")
				t.Logf("refused in %v: exit %d: %s", time.Since(began), code, stderr)
				if code != 1 || len(lines) != 1 || !strings.Contains(lines[0], c.Name+".torrent") {
					t.Fatalf("exit %d, want 1 and one line naming the torrent:\n%s", code, stderr)
				}
				return
			}
			m := start(t, nil, args...)
			m.waitReady(t)
			mounted := time.Since(began)
			n := 0
			err := filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if p != mnt {
					n++
					if _, err := d.Info(); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			walked := time.Since(began)
			hwm := vmHWM(t, m.cmd.Process.Pid)
			t.Logf("mounted in %v, %d entries walked in %v, peak RSS %d MiB", mounted.Round(time.Millisecond),
				n, (walked - mounted).Round(time.Millisecond), hwm>>20)
			if n != c.Entries {
				t.Errorf("%d entries, want %d", n, c.Entries)
			}
			if max := craftedRSS(c.Name); hwm > max {
				t.Errorf("peak RSS %d MiB, more than %d MiB", hwm>>20, max>>20)
			}
			if code := m.stop(t, syscall.SIGINT); code != 0 {
				t.Fatalf("mount: exit %d", code)
			}
		})
	}
}

// vmHWM is the peak resident set size of process pid, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// TestShapeBeside mounts a seeded torrent beside torrents past each limit of a torrent's
// shape, and one of 50,000 files of one name: each over a limit is refused with a line that
// names the limit, the mount comes up, its good torrent reads the source's bytes, and the
// files of one name are all there. A torrent of too many files added to the running mount
// is refused the same way, and the others keep serving.
func TestShapeBeside(t *testing.T) {
	tor, data, addr := swarm(t, "good.bin", 3<<20+5)
	dir := t.TempDir()
	crafted := map[string]fetchtest.Crafted{}
	for _, c := range fetchtest.CraftedTorrents() {
		crafted[c.Name] = c
	}
	write := func(name string) string {
		p := filepath.Join(dir, name+".torrent")
		if err := crafted[name].Write(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	limits := map[string]string{
		"too-deep":       "a path 2049 elements deep: too large for torrentfs (at most 2048)",
		"too-many-dirs":  "more than 262144 directories: too large for torrentfs",
		"too-long-paths": "more than 32 MiB of file paths: too large for torrentfs",
	}
	args := []string{"mount", "--cache-dir", t.TempDir(), "--peer", addr, tor, write("50k-same-name")}
	for name := range limits {
		args = append(args, write(name))
	}
	mnt := t.TempDir()
	m := start(t, nil, append(append(args, mnt), loopback...)...)
	m.waitReady(t)
	// The lines are what this checks: each refused torrent gets one that says which limit,
	// before the mount is ready.
	for name, limit := range limits {
		m.wantLogged(t, name+".torrent: "+limit)
	}
	streamEqual(t, filepath.Join(mnt, "good.bin"), data)
	es, err := os.ReadDir(filepath.Join(mnt, "same"))
	if err != nil || len(es) != 50_000 {
		t.Fatalf("the torrent of 50,000 files of one name: %d entries, %v", len(es), err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "same", "a (50000).txt")); err != nil {
		t.Fatal(err)
	}

	code, _, errOut := torrentfs(t, nil, "add", mnt, write("too-many-files"))
	if code != 1 || !strings.Contains(errOut, "too-many-files.torrent: more than 1048576 files: too large for torrentfs") {
		t.Fatalf("add of a torrent of too many files: exit %d, %q", code, errOut)
	}
	if code, out, _ := torrentfs(t, nil, "ls", mnt); code != 0 || !strings.Contains(out, "good.bin") || !strings.Contains(out, "same") {
		t.Fatalf("ls: exit %d:\n%s", code, out)
	}
	readEqual(t, filepath.Join(mnt, "good.bin"), 1<<20, data[1<<20:2<<20])
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}
