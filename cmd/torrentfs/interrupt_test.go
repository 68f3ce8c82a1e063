package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/status"
)

// interruptBound is how long a mount may take to exit after SIGINT before the test calls it
// hung. The mount bounds its own way out at shutdownBound (10 s); the margin is for a machine
// busy with other work, not a speed target.
const interruptBound = 15 * time.Second

// TestInterruptInEveryState interrupts real mounts in each state a user may press Ctrl-C
// in, with the CPU loaded by busy loops, and checks that each exits cleanly, in time, and
// leaves its mount point empty rather than "transport endpoint is not connected". A make
// test once failed with a mount that had not exited a minute after SIGINT.
func TestInterruptInEveryState(t *testing.T) {
	busyLoops(t, 2)
	for _, tc := range []struct {
		name string
		// run starts a mount in the state and returns it, its mount point, and a function
		// that checks what the test left running in it once it has exited (nil if none).
		run func(t *testing.T) (*proc, string, func(t *testing.T))
	}{
		{"reading from a stalled seeder", interruptReading},
		{"seeding to aria2", interruptSeeding},
		{"read blocked on a dead swarm", interruptDeadSwarm},
		{"metadata pending", interruptMetadataPending},
		{"evicting", interruptEvicting},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, mnt, after := tc.run(t)
			took, code := interrupt(t, p)
			t.Logf("exited %v after SIGINT, status %d", took.Round(time.Millisecond), code)
			if code != 0 || strings.Contains(p.output(), "stopping hung") {
				t.Errorf("mount: exit %d after SIGINT, want 0:\n%s", code, p.output())
			}
			if mounted(mnt) {
				t.Errorf("%s still mounted after the mount exited", mnt)
			}
			if es, err := os.ReadDir(mnt); err != nil || len(es) != 0 {
				t.Errorf("mount point after exit: %d entries, %v; want empty", len(es), err)
			}
			if after != nil {
				after(t)
			}
		})
	}
}

// interrupt sends SIGINT to p and returns how long it took to exit and its exit status. It
// fails the test if p has not exited within interruptBound.
func interrupt(t *testing.T, p *proc) (time.Duration, int) {
	t.Helper()
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(interruptBound):
		t.Fatalf("%s has not exited %v after SIGINT:\n%s", p.name, interruptBound, p.output())
	}
	return time.Since(start), p.cmd.ProcessState.ExitCode()
}

// busyLoops starts n shell busy loops that load the CPU until the test ends.
func busyLoops(t *testing.T, n int) {
	for range n {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
}

// blockedRead reads path in a goroutine, which may block for ever in the mount. The function
// it returns checks, once the mount has exited, that the read ended (with an error or not).
func blockedRead(path string) func(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		_, err := os.ReadFile(path)
		done <- err
	}()
	return func(t *testing.T) {
		select {
		case err := <-done:
			t.Logf("the read in progress ended with %v", err)
		case <-time.After(interruptBound):
			t.Errorf("a read of %s still blocked %v after the mount exited", path, interruptBound)
		}
	}
}

// A read in progress from a peer that sent three chunks and then went silent.
func interruptReading(t *testing.T) (*proc, string, func(t *testing.T)) {
	data := fetchtest.Payload(4<<20+12345, 21)
	sw := fetchtest.NewSwarm(t, "f.bin", []fetchtest.File{{Data: data}}, 256<<10)
	h := newHostile(t, sw.TorrentPath, data, stallMidway)
	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--read-timeout", "0",
		"--peer", h.addr, sw.TorrentPath, mnt}, loopback...)...)
	m.waitReady(t)
	after := blockedRead(filepath.Join(mnt, "f.bin"))
	h.waitUntil(t, func() bool { return h.rejected.Load() > 0 }, func() string {
		return fmt.Sprintf("the stalling peer got %d requests, served %d", h.requests.Load(), h.served.Load())
	})
	return m, mnt, after
}

// A mount that has the whole torrent, uploading it to aria2 alone, which found it through
// opentracker.
func interruptSeeding(t *testing.T) (*proc, string, func(t *testing.T)) {
	src := t.TempDir()
	const size = 16<<20 + 777
	writePayload(t, filepath.Join(src, "f.bin"), size, 22)
	base := filepath.Join(t.TempDir(), "f.torrent")
	mktorrent(t, base, filepath.Join(src, "f.bin"), 18, "http://127.0.0.1:1/announce")
	sw := newSwarmNet(t, base, src)
	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), sw.tor, mnt}, loopback...)...)
	m.waitReady(t)
	sw.announced(t)
	got, err := os.ReadFile(filepath.Join(mnt, "f.bin"))
	if err != nil || len(got) != size {
		t.Fatalf("read through the mount: %d bytes, %v", len(got), err)
	}
	sw.stop() // from now on the mount is the only seeder
	_, rpc := aria2RPC(t, sw.tor, t.TempDir(), "--max-download-limit=1M", "--seed-time=0")
	deadline := time.Now().Add(time.Minute)
	for {
		if _, done := aria2Transfer(t, rpc); done > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("aria2 got nothing from the mount in a minute")
		}
		time.Sleep(50 * time.Millisecond) // polling aria2
	}
	return m, mnt, nil
}

// A read of a torrent whose tracker knows of nobody, with --read-timeout 0: it would wait
// for ever.
func interruptDeadSwarm(t *testing.T) (*proc, string, func(t *testing.T)) {
	data := fetchtest.Payload(1<<20+3, 23)
	sw := fetchtest.NewSwarm(t, "f.bin", []fetchtest.File{{Data: data}}, 256<<10)
	mi, err := metainfo.LoadFromFile(sw.TorrentPath)
	if err != nil {
		t.Fatal(err)
	}
	tport := opentracker(t, mi.HashInfoBytes().HexString())
	mi.Announce = fmt.Sprintf("http://127.0.0.1:%d/announce", tport)
	tor := filepath.Join(t.TempDir(), "dead.torrent")
	writeMetaInfo(t, tor, mi)
	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--read-timeout", "0", tor, mnt}, loopback...)...)
	m.waitReady(t)
	after := blockedRead(filepath.Join(mnt, "f.bin"))
	// The read reached the mount, where it waits: the torrent's first contact says a read
	// began.
	waitStatus(t, mnt, anyTorrent(func(tr status.Torrent) bool {
		return tr.FirstContact != nil && tr.FirstContact.ReadBegan > 0
	}))
	return m, mnt, after
}

// A magnet link whose metadata nobody can send: its tracker knows of no one.
func interruptMetadataPending(t *testing.T) (*proc, string, func(t *testing.T)) {
	var ih metainfo.Hash
	for i := range ih {
		ih[i] = byte(rand.Uint32())
	}
	tport := opentracker(t, ih.HexString())
	magnet := fmt.Sprintf("magnet:?xt=urn:btih:%s&tr=http://127.0.0.1:%d/announce", ih.HexString(), tport)
	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), magnet, mnt}, loopback...)...)
	m.waitReady(t)
	return m, mnt, nil
}

// A stream through a cache a third of the torrent's size, with --prefetch all: the prefetch
// fills the cache, and the stream, past what it holds, evicts as it goes on. It has most of
// the torrent still to read when interrupted; it may still finish in the 3 s the mount gives
// open files (once in six runs), or fail when the mount exits.
func interruptEvicting(t *testing.T) (*proc, string, func(t *testing.T)) {
	const maxSize = 64 << 20
	data := fetchtest.Payload(3*maxSize+4321, 24)
	sw := fetchtest.NewSwarm(t, "all.bin", []fetchtest.File{{Data: data}}, 256<<10)
	_, addr := sw.StartSeeder(t)
	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--cache-max-size", "64M", "--prefetch", "all",
		"--peer", addr, sw.TorrentPath, mnt}, loopback...)...)
	m.waitReady(t)
	waitStatus(t, mnt, func(r status.Report) bool { return len(r.Torrents) == 1 && r.Torrents[0].Evicted > 0 }) // the first eviction
	// Stream past what the cache holds, so that it evicts as the stream goes; interrupt it
	// there.
	const passed = maxSize + 16<<20
	past := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		f, err := os.Open(filepath.Join(mnt, "all.bin"))
		if err != nil {
			close(past)
			done <- err
			return
		}
		defer f.Close()
		buf := make([]byte, 1<<20)
		var n int64
		for {
			k, err := f.Read(buf)
			n += int64(k)
			if n-int64(k) < passed && n >= passed {
				close(past)
			}
			if err != nil {
				if errors.Is(err, io.EOF) && n < passed {
					close(past)
				}
				done <- err
				return
			}
		}
	}()
	select {
	case <-past:
	case err := <-done:
		t.Fatalf("the stream ended before it passed the cap: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the stream did not pass the cap in a minute")
	}
	return m, mnt, func(t *testing.T) {
		select {
		case err := <-done:
			t.Logf("the stream ended with %v", err)
		case <-time.After(interruptBound):
			t.Errorf("the stream still blocked %v after the mount exited", interruptBound)
		}
	}
}
