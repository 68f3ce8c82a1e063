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
			m.waitFor(t, "msg=mounted")
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
