//go:build linux

package testnet_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/torrentfs/torrentfs/internal/testnet"
)

// TestHosts makes two hosts and checks that each is a namespace of its own, that they reach
// each other over IPv4 and IPv6, by TCP from a process started in one to a listener in the
// other and back, that the tests reach them from the bridge, that multicast goes across,
// and that nothing outside the network can be reached.
func TestHosts(t *testing.T) {
	n := testnet.New(t)
	a := n.AddHost(t, "a", testnet.Link{})
	b := n.AddHost(t, "b", testnet.Link{})
	if a.IPv4 == b.IPv4 || a.IPv6 == b.IPv6 || !a.IPv4.Is4() || !a.IPv6.Is6() {
		t.Fatalf("addresses a %s %s, b %s %s", a.IPv4, a.IPv6, b.IPv4, b.IPv6)
	}

	nsOf := func(h *testnet.Host) string {
		out, err := h.Command("readlink", "/proc/self/ns/net").Output()
		if err != nil {
			t.Fatalf("readlink in %s: %v", h.Name, err)
		}
		return strings.TrimSpace(string(out))
	}
	ours := netns(t, os.Getpid())
	if nsA, nsB := nsOf(a), nsOf(b); nsA == ours || nsB == ours || nsA == nsB {
		t.Fatalf("namespaces: tests %s, a %s, b %s; want three", ours, nsA, nsB)
	}

	for _, addr := range []netip.Addr{b.IPv4, b.IPv6} {
		l, err := b.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		got := make(chan string, 1)
		go func() {
			c, err := l.Accept()
			if err != nil {
				got <- err.Error()
				return
			}
			defer c.Close()
			line, _ := io.ReadAll(c)
			got <- string(line) + " from " + c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().String()
		}()
		// bash's /dev/tcp, from a process in a.
		script := fmt.Sprintf("echo hello >/dev/tcp/%s/%d", addr, port)
		if out, err := a.Command("bash", "-c", script).CombinedOutput(); err != nil {
			t.Fatalf("a to b at %s: %v: %s", addr, err, out)
		}
		want := fmt.Sprintf("hello\n from %s", a.IPv4)
		if addr.Is6() {
			want = fmt.Sprintf("hello\n from %s", a.IPv6)
		}
		if g := <-got; g != want {
			t.Fatalf("b got %q; want %q", g, want)
		}
		l.Close()
	}

	// From the tests' namespace, across the bridge, to a listener in a.
	l, err := a.Listen("tcp", netip.AddrPortFrom(a.IPv4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Write([]byte("from a"))
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("tests to a: %v", err)
	}
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || string(got) != "from a" {
		t.Fatalf("read from a: %q, %v", got, err)
	}

	// Multicast, as SSDP sends it, from b to a listener in a.
	group := &net.UDPAddr{IP: net.IPv4(239, 255, 255, 250), Port: 1900}
	var mc *net.UDPConn
	if err := a.Do(func() (err error) {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		mc, err = net.ListenMulticastUDP("udp4", ifi, group)
		return err
	}); err != nil {
		t.Fatalf("multicast listener in a: %v", err)
	}
	defer mc.Close()
	sender, err := b.ListenPacket("udp4", netip.AddrPortFrom(b.IPv4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	// A datagram can be lost: send until one arrives, for at most 10 s.
	arrived := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		mc.SetReadDeadline(time.Now().Add(10 * time.Second))
		k, from, err := mc.ReadFromUDP(buf)
		if err != nil {
			arrived <- err.Error()
			return
		}
		arrived <- string(buf[:k]) + " from " + from.IP.String()
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var m string
wait:
	for {
		if _, err := sender.WriteTo([]byte("M-SEARCH"), group); err != nil {
			t.Fatalf("send to %s from b: %v", group, err)
		}
		select {
		case m = <-arrived:
			break wait
		case <-tick.C:
		}
	}
	if want := "M-SEARCH from " + b.IPv4.String(); m != want {
		t.Fatalf("multicast: %q; want %q", m, want)
	}

	// Nothing beyond the network: no default route in a host.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, dst := range []string{"192.0.2.1:80", "[2001:db8::1]:80"} {
		_, err := a.DialContext(ctx, "tcp", dst)
		if !errors.Is(err, syscall.ENETUNREACH) {
			t.Errorf("dial %s from a: %v; want %v", dst, err, syscall.ENETUNREACH)
		}
	}
}

// TestShapedLink sends 1 MiB each way over a link shaped to 8 Mbit/s and checks that it
// took at least 2/3 of the 1.05 s the rate allows (tbf lets through no more than its rate
// and a 32 KiB burst; a busy machine only makes it slower), and that the counters of both
// hosts saw the bytes go by.
func TestShapedLink(t *testing.T) {
	const size, rate = 1 << 20, 8_000_000
	n := testnet.New(t)
	slow := n.AddHost(t, "slow", testnet.Link{Rate: rate})
	fast := n.AddHost(t, "fast", testnet.Link{})
	before := counters(t, slow, fast)
	least := time.Duration(size*8*2/3) * time.Second / rate

	// Up: a process in slow sends to a listener in fast.
	l, err := fast.Listen("tcp", netip.AddrPortFrom(fast.IPv4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	received := drain(l)
	script := fmt.Sprintf("head -c %d /dev/zero >/dev/tcp/%s/%d", size, fast.IPv4, l.Addr().(*net.TCPAddr).Port)
	start := time.Now()
	if out, err := slow.Command("bash", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("send from slow: %v: %s", err, out)
	}
	if k := <-received; k != size {
		t.Fatalf("fast received %d bytes; want %d", k, size)
	}
	if took := time.Since(start); took < least {
		t.Errorf("1 MiB up a %d bit/s link in %v; want at least %v", rate, took, least)
	}

	// Down: fast sends to a listener in slow, from the test itself.
	l2, err := slow.Listen("tcp", netip.AddrPortFrom(slow.IPv6, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	received = drain(l2)
	start = time.Now()
	c, err := fast.DialContext(t.Context(), "tcp", l2.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(c, io.LimitReader(zeros{}, size)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if k := <-received; k != size {
		t.Fatalf("slow received %d bytes; want %d", k, size)
	}
	if took := time.Since(start); took < least {
		t.Errorf("1 MiB down a %d bit/s link in %v; want at least %v", rate, took, least)
	}

	// Each way carried 1 MiB of payload plus headers and the other way's acks. What arrives
	// is that; what is sent may be more: TCP sends again what the 8 Mbit/s link dropped.
	after := counters(t, slow, fast)
	for _, c := range []struct {
		what     string
		got, max int64
	}{
		{"slow sent", after[0].Sent - before[0].Sent, size * 2},
		{"slow received", after[0].Received - before[0].Received, size * 5 / 4},
		{"fast sent", after[1].Sent - before[1].Sent, size * 2},
		{"fast received", after[1].Received - before[1].Received, size * 5 / 4},
	} {
		if c.got < size || c.got > c.max {
			t.Errorf("%s %d bytes; want 1 MiB and its headers (%d to %d)", c.what, c.got, size, c.max)
		}
	}
}

func counters(t *testing.T, hosts ...*testnet.Host) []testnet.Counters {
	t.Helper()
	var cs []testnet.Counters
	for _, h := range hosts {
		c, err := h.Counters()
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs
}

// drain accepts one connection on l and reads it to its end, in a goroutine that sends on the
// channel it returns how many bytes came, or -1 if Accept failed: receiving waits for it.
func drain(l net.Listener) <-chan int64 {
	received := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			received <- -1
			return
		}
		defer c.Close()
		k, _ := io.Copy(io.Discard, c)
		received <- k
	}()
	return received
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestNetworkRemoved checks that a network's bridge and links are gone once the test that
// made it ends, and that a host's namespace is let go: a process started in it after that
// fails to enter it.
func TestNetworkRemoved(t *testing.T) {
	var h *testnet.Host
	t.Run("make", func(t *testing.T) {
		n := testnet.New(t)
		h = n.AddHost(t, "a", testnet.Link{Rate: 100_000_000})
		n.AddHost(t, "b", testnet.Link{})
		if ifs, _ := net.Interfaces(); len(ifs) != 4 {
			t.Fatalf("interfaces %v; want lo, the bridge and one link per host", ifs)
		}
	})
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(ifs) != 1 || ifs[0].Name != "lo" {
		t.Fatalf("interfaces %v after the test; want lo alone", ifs)
	}
	if err := h.Command("true").Run(); err == nil {
		t.Fatal("a command entered a removed host")
	}
}
