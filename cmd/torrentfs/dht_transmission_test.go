package main

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/internal/testnet"
)

// TestDHTTransmission resolves a bare magnet link through a DHT in which Transmission is the
// mount's only --dht-bootstrap node and the only node the seeder knows. Each runs on a host
// of its own on a test network (Transmission's DHT drops 127.0.0.0/8 as martian): a
// transmission-daemon with no torrent, DHT on; a libtorrent seeder that joins the DHT
// through Transmission alone and announces the torrent to it; the mount, which learns the
// seeder from Transmission's answer to get_peers, reads the file, equal to the source, and
// lists the seeder in status as a peer found by the DHT.
func TestDHTTransmission(t *testing.T) {
	n := testnet.New(t)
	trHost := n.AddHost(t, "transmission", testnet.Link{})
	seedHost := n.AddHost(t, "seeder", testnet.Link{})
	mntHost := n.AddHost(t, "mount", testnet.Link{})
	at := func(h *testnet.Host) string { return fmt.Sprintf("%s:%d", h.IPv4, pexPort) }

	transmissionDHT(t, trHost)
	waitDHTPing(t, mntHost, at(trHost))

	data := fetchtest.Payload(2<<20+31, 37)
	_, magnet := dhtSwarm(t, seedHost, "trdht.bin", data, at(seedHost), at(trHost))

	mnt := t.TempDir()
	m := startIn(t, mntHost, "mount", "--cache-dir", t.TempDir(), "--listen", at(mntHost), "--no-upnp", "--no-pex",
		"--readahead", "256K", "--dht-bootstrap", at(trHost), magnet, mnt)
	m.waitReady(t)
	waitListed(t, mnt, "trdht.bin")
	file := filepath.Join(mnt, "trdht.bin")
	readEqual(t, file, 0, data[:256<<10])
	checkDHTPeer(t, mnt, at(seedHost))
	readEqual(t, file, 0, data)
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d:\n%s", code, m.output())
	}
}

// transmissionDHT starts a transmission-daemon in h, with no torrent, its DHT on (and
// nothing else: no local discovery, PEX, uTP, port mapping or RPC) on h's IPv4 address and
// port pexPort.
func transmissionDHT(t testing.TB, h *testnet.Host) *proc {
	t.Helper()
	cfg := transmissionConfig(t, "transmission-daemon", map[string]any{
		"dht-enabled": true, "peer-port": pexPort, "bind-address-ipv4": h.IPv4.String(), "bind-address-ipv6": h.IPv6.String(),
		"download-dir": t.TempDir(), "incomplete-dir-enabled": false,
	})
	return startProc(t, "transmission-daemon on "+h.Name, h.Command("transmission-daemon", "-f", "-g", cfg, "--log-debug"), nil)
}

// waitDHTPing sends, from host h, a DHT ping query (BEP 5) to addr every 100 ms until a
// response comes, for at most a minute.
func waitDHTPing(t testing.TB, h *testnet.Host, addr string) {
	t.Helper()
	c, err := h.ListenPacket("udp4", net.JoinHostPort(h.IPv4.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	ping := []byte("d1:ad2:id20:torrentfs-ping-id-00e1:q4:ping1:t2:pg1:y1:qe")
	buf := make([]byte, 1500)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err := c.WriteTo(ping, to); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, from, err := c.ReadFrom(buf); err == nil && from.String() == to.String() && bytes.Contains(buf[:n], []byte("1:y1:r")) {
			return
		}
	}
	t.Fatalf("no DHT ping response from %s in a minute", addr)
}
