package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/internal/testnet"
)

// The peers of the PEX tests each have a host of their own on a test network, so that each
// has its own address (PEX lists addresses, and Transmission takes one peer per address),
// and all listen on this port.
const pexPort = 6881

// TestPEX runs peer exchange with libtorrent and Transmission, each on a host of its own,
// with DHT and trackers off, so that PEX is the only way a peer can learn of another.
//
//   - The mount knows one peer alone (--peer), a libtorrent (hub) connected to a second
//     libtorrent and to Transmission, which have one half of the file each and do not
//     exchange peers themselves. The mount learns of both from the hub's PEX, and connects
//     to them; the hub is killed; then the whole file is read from the mount, and is equal
//     to the source. The mount's host counts that it had received less than half of the
//     file when the read began, with the hub gone, and the whole of it during the read.
//   - A libtorrent that knows the mount alone learns of the other two from the mount's PEX:
//     its peer list shows them with the source pex.
func TestPEX(t *testing.T) {
	n := testnet.New(t)
	hubHost := n.AddHost(t, "hub", testnet.Link{})
	ltHost := n.AddHost(t, "libtorrent", testnet.Link{})
	trHost := n.AddHost(t, "transmission", testnet.Link{})
	mntHost := n.AddHost(t, "mount", testnet.Link{})
	lateHost := n.AddHost(t, "late", testnet.Link{})

	// 33 pieces of 64 KiB, the last one short; the first 16 at Transmission, the rest at
	// the second libtorrent. A missing half is zeros, which do not match its hashes.
	const piece, half = 64 << 10, 16 * 64 << 10
	src := t.TempDir()
	data := writePayload(t, filepath.Join(src, "pex.bin"), 32*piece+12345, 27)
	tor := filepath.Join(t.TempDir(), "pex.torrent")
	mktorrent(t, tor, filepath.Join(src, "pex.bin"), 16, "")
	partial := func(from, to int) string {
		dir := t.TempDir()
		b := make([]byte, len(data))
		copy(b[from:to], data[from:to])
		if err := os.WriteFile(filepath.Join(dir, "pex.bin"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	at := func(h *testnet.Host) string { return fmt.Sprintf("%s:%d", h.IPv4, pexPort) }

	tr := transmissionIn(t, trHost, tor, partial(0, half), false)
	lt := ltpex(t, ltHost, tor, partial(half, len(data)), "--no-pex")
	// It has checked its half (Transmission cuts the percentage to one decimal), and takes
	// peers.
	tr.waitFor(t, fmt.Sprintf("Progress: %.1f%%", math.Trunc(1000*float64(half)/float64(len(data)))/10))
	lt.waitFor(t, "ready 17")
	hub := ltpex(t, hubHost, tor, t.TempDir(), "--peer", at(ltHost), "--peer", at(trHost))
	hub.waitFor(t, "peer "+at(ltHost)+" ")
	hub.waitFor(t, "peer "+at(trHost)+" ")

	mnt := t.TempDir()
	// No --no-pex: the mount exchanges peers, on this network of hosts only.
	m := startIn(t, mntHost, "mount", "--cache-dir", t.TempDir(), "--listen", at(mntHost),
		"--no-dht", "--no-upnp", "--peer", at(hubHost), tor, mnt)
	m.waitReady(t)
	// Once the mount has their extended handshakes (the names they give), it lists them in
	// its own PEX messages.
	waitPeers(t, mnt, time.Minute, map[string]string{at(ltHost): "libtorrent/", at(trHost): "Transmission "})

	hub.cmd.Process.Kill()
	<-hub.done

	// A libtorrent that knows the mount alone is told of the others by the mount.
	late := ltpex(t, lateHost, tor, t.TempDir(), "--peer", at(mntHost))
	late.waitFor(t, "peer "+at(ltHost)+" pex")
	late.waitFor(t, "peer "+at(trHost)+" pex")

	before, err := mntHost.Counters()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(mnt, "pex.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes from the mount, not equal to the %d of the source", len(got), len(data))
	}
	after, err := mntHost.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if before.Received > int64(len(data)/2) || after.Received-before.Received < int64(len(data)) {
		t.Errorf("the mount's host received %d bytes before the read, %d during it; want less than half the file's %d, then all of it",
			before.Received, after.Received-before.Received, len(data))
	}
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

// TestPEXFromTransmission is TestPEX's first half with Transmission as the one peer the
// mount knows. Its only other peer is a libtorrent that knows Transmission alone, does not
// exchange peers, and has the first file; no one has the second, so no one completes the
// torrent (Transmission drops a connection between two seeds). The mount learns of the
// libtorrent from Transmission's PEX, and reads the first file from it once Transmission is
// killed.
func TestPEXFromTransmission(t *testing.T) {
	n := testnet.New(t)
	trHost := n.AddHost(t, "transmission", testnet.Link{})
	ltHost := n.AddHost(t, "libtorrent", testnet.Link{})
	mntHost := n.AddHost(t, "mount", testnet.Link{})
	at := func(h *testnet.Host) string { return fmt.Sprintf("%s:%d", h.IPv4, pexPort) }

	// a is 16 whole pieces of 64 KiB, so that none of its pieces holds some of b.
	a, b := fetchtest.Payload(16<<16, 251), fetchtest.Payload(100_003, 252)
	src := filepath.Join(t.TempDir(), "pex")
	writeTree(t, filepath.Dir(src), map[string][]byte{"pex/a.bin": a, "pex/b.bin": b})
	tor := filepath.Join(t.TempDir(), "pex.torrent")
	mktorrent(t, tor, src, 16, "")
	ltDir := t.TempDir()
	writeTree(t, ltDir, map[string][]byte{"pex/a.bin": a})

	tr := transmissionIn(t, trHost, tor, t.TempDir(), true)
	tr.waitFor(t, "Progress:") // it has checked that it has nothing, and takes peers
	lt := ltpex(t, ltHost, tor, ltDir, "--no-pex", "--peer", at(trHost))
	lt.waitFor(t, "peer "+at(trHost)+" ")

	mnt := t.TempDir()
	m := startIn(t, mntHost, "mount", "--cache-dir", t.TempDir(), "--listen", at(mntHost),
		"--no-dht", "--no-upnp", "--peer", at(trHost), tor, mnt)
	m.waitReady(t)
	waitPeers(t, mnt, 2*time.Minute, map[string]string{at(ltHost): "libtorrent/"})

	tr.cmd.Process.Kill()
	<-tr.done
	got, err := os.ReadFile(filepath.Join(mnt, "pex", "a.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, a) {
		t.Fatalf("read %d bytes from the mount, not equal to the %d of the source", len(got), len(a))
	}
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

// ltpex runs testdata/ltpex.py (libtorrent) in host h, listening on its IPv4 address, with
// args after the torrent, the directory and the address.
func ltpex(t testing.TB, h *testnet.Host, torrent, dir string, args ...string) *proc {
	t.Helper()
	script, err := filepath.Abs("testdata/ltpex.py")
	if err != nil {
		t.Fatal(err)
	}
	cmd := h.Command("/usr/bin/python3", append([]string{script, torrent, dir, h.IPv4.String(), fmt.Sprint(pexPort)}, args...)...)
	p := startProc(t, "libtorrent on "+h.Name, cmd, nil)
	p.waitFor(t, "listening")
	return p
}

// transmissionIn runs Debian's transmission-cli in host h, on torrent with its files under
// dir, listening on h's addresses, with DHT, local discovery, µTP and port mapping off, and
// PEX on if pex.
func transmissionIn(t testing.TB, h *testnet.Host, torrent, dir string, pex bool) *proc {
	t.Helper()
	cfg := transmissionConfig(t, "transmission-cli", map[string]any{
		"pex-enabled": pex, "bind-address-ipv4": h.IPv4.String(), "bind-address-ipv6": h.IPv6.String(),
	})
	// Unbuffered: its progress lines would otherwise come seconds late, in a pipe.
	return startProc(t, "transmission-cli on "+h.Name, h.Command("stdbuf", "-o0", "transmission-cli",
		"-g", cfg, "--no-portmap", "-p", fmt.Sprint(pexPort), "-w", dir, torrent), nil)
}

// startIn runs torrentfs with args in host h, as start does.
func startIn(t testing.TB, h *testnet.Host, args ...string) *proc {
	t.Helper()
	return startReadyAs(t, "torrentfs on "+h.Name, h.Command(bin, args...), func() {
		if args[0] == "mount" {
			detachIfMounted(args)
		}
	})
}

// waitPeers waits, for at most limit, until the mount at mnt is connected to each peer in
// want (address to the start of the client name its extended handshake gives), as status
// --json lists them.
func waitPeers(t testing.TB, mnt string, limit time.Duration, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := exec.Command(bin, "status", "--json", mnt).Output()
		if err != nil {
			t.Fatalf("status --json: %v", err)
		}
		var ms []struct {
			Torrents []struct {
				PeerList []fetch.Peer `json:"peer_list"`
			} `json:"torrents"`
		}
		if err := json.Unmarshal(out, &ms); err != nil {
			t.Fatalf("status --json: %v", err)
		}
		missing := maps.Clone(want)
		for _, m := range ms {
			for _, tr := range m.Torrents {
				for _, p := range tr.PeerList {
					if c, ok := missing[p.Addr]; ok && strings.HasPrefix(p.Client, c) {
						delete(missing, p.Addr)
					}
				}
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mount is not connected to %v after %v; status --json:\n%s", slices.Collect(maps.Keys(missing)), limit, out)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}
