//go:build linux

package testnet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// A Network is a bridge in the tests' namespace (the one Isolate made) with hosts on it.
// Each host is a network namespace of its own, joined to the bridge by a veth pair, with
// one IPv4 and one IPv6 address, and a link shaped with tc's tbf in both directions when
// its Link asks for it. The tests' own namespace has the first address of each family on
// the bridge (Network.IPv4, Network.IPv6), unshaped. Nothing is routed anywhere else: the
// tests' namespace has no other interface, and no host has a default route. Multicast is
// flooded to every port of the bridge (no snooping), and every host routes 224.0.0.0/4
// and ff00::/8 to its link, so SSDP and the like work between hosts.
//
// Hosts share the tests' mount namespace: a FUSE mount made in a host is seen by the test,
// and files and unix sockets are named by the same paths.
//
// Interface names are unique in the tests' namespace, which is the test binary's alone, so
// test binaries run in parallel do not collide, nor do networks made by parallel tests of
// one binary (each has its own subnets, 10.77.N.0/24 and fd77:0:N::/64). A network and
// its hosts are removed when the test that made it ends, failed or not.
type Network struct {
	// Immutable after New.
	index      int
	bridge     string
	ipv4, ipv6 netip.Addr

	// Guarded by mu.
	mu    sync.Mutex
	hosts []*Host
}

// A Host is a network namespace on a Network, as a machine on a switch.
type Host struct {
	// Name is the host's name, given to AddHost; it names nothing on the system.
	Name string
	// IPv4 and IPv6 are the host's addresses on the network.
	IPv4, IPv6 netip.Addr
	// Link is the shaping of the host's link, as AddHost was given it.
	Link Link

	// Immutable after AddHost.
	ns   *os.File // the namespace, held open: it lives as long as this, or a process in it
	peer string   // the veth end on the bridge, in the tests' namespace
}

// Link says how a host's link to the bridge is shaped. The zero value is unshaped.
type Link struct {
	// Rate, in bits per second, caps what the host sends and what it receives, each (tbf
	// on both ends of its veth pair). Zero leaves the link unshaped.
	Rate int64
}

// Counters are the bytes a host sent and received on its link, as the bridge's side of its
// veth pair counts them: whole frames, headers included (a TCP stream costs some 0.1% more
// than its payload: a veth passes frames of up to 64 KiB with one set of headers). Sent is all the host put on its link, what the
// receiver's shaping then dropped and TCP sent again included; Received is what its own
// shaping let through.
type Counters struct {
	Sent, Received int64
}

// ErrNotIsolated is returned by New outside the namespace Isolate makes: a network of hosts
// is made only there, as root, so that nothing it does can reach beyond the test binary.
var ErrNotIsolated = errors.New("testnet: a network of hosts needs root and the namespace of testnet.Isolate (call it in TestMain)")

var networks atomic.Int32

// New makes a network with no hosts yet. It is removed, with its hosts, when t ends. It
// fails t with ErrNotIsolated outside the namespace of Isolate.
func New(t testing.TB) *Network {
	t.Helper()
	n, err := newNetwork()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.close(); err != nil {
			t.Errorf("testnet: remove network: %v", err)
		}
	})
	return n
}

func newNetwork() (*Network, error) {
	if !Isolated() || os.Geteuid() != 0 {
		return nil, ErrNotIsolated
	}
	i := int(networks.Add(1))
	if i > 255 {
		return nil, errors.New("testnet: more than 255 networks in one test binary")
	}
	n := &Network{
		index:  i,
		bridge: fmt.Sprintf("tn%d", i),
		ipv4:   netip.AddrFrom4([4]byte{10, 77, byte(i), 1}),
		ipv6:   ipv6(i, 1),
	}
	err := ipBatch(nil,
		fmt.Sprintf("link add %s type bridge mcast_snooping 0 forward_delay 0", n.bridge),
		fmt.Sprintf("addr add %s/24 dev %s", n.ipv4, n.bridge),
		fmt.Sprintf("addr add %s/64 dev %s nodad", n.ipv6, n.bridge),
		fmt.Sprintf("link set %s up", n.bridge),
	)
	if err != nil {
		ipBatch(nil, "link del "+n.bridge)
		return nil, fmt.Errorf("testnet: make bridge: %w", err)
	}
	return n, nil
}

func ipv6(network, host int) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfd, 0x77, 0, 0, 0, byte(network), 14: byte(host >> 8), 15: byte(host)})
}

// IPv4 and IPv6 return the tests' own addresses on the network, from which a process in
// the tests' namespace reaches the hosts.
func (n *Network) IPv4() netip.Addr { return n.ipv4 }
func (n *Network) IPv6() netip.Addr { return n.ipv6 }

// AddHost adds a host named name (for messages) with the next free addresses, its link
// shaped as link says. The host is removed with the network. It fails t on error.
func (n *Network) AddHost(t testing.TB, name string, link Link) *Host {
	t.Helper()
	h, err := n.addHost(name, link)
	if err != nil {
		t.Fatalf("testnet: add host %s: %v", name, err)
	}
	return h
}

func (n *Network) addHost(name string, link Link) (*Host, error) {
	n.mu.Lock()
	i := len(n.hosts) + 2
	if i > 254 {
		n.mu.Unlock()
		return nil, errors.New("more than 253 hosts on one network")
	}
	h := &Host{
		Name: name,
		IPv4: netip.AddrFrom4([4]byte{10, 77, byte(n.index), byte(i)}),
		IPv6: ipv6(n.index, i),
		Link: link,
		peer: fmt.Sprintf("tn%dh%d", n.index, i),
	}
	n.hosts = append(n.hosts, h)
	n.mu.Unlock()

	ns, err := newNetns()
	if err != nil {
		return nil, err
	}
	h.ns = ns
	origin := []string{
		fmt.Sprintf("link add %s type veth peer name eth0 netns %s", h.peer, h.nsPath()),
		fmt.Sprintf("link set %s master %s", h.peer, n.bridge),
		fmt.Sprintf("link set %s up", h.peer),
	}
	if err := ipBatch(nil, origin...); err != nil {
		return nil, err
	}
	inside := []string{
		"link set lo up",
		"link set eth0 up",
		fmt.Sprintf("addr add %s/24 dev eth0", h.IPv4),
		fmt.Sprintf("addr add %s/64 dev eth0 nodad", h.IPv6),
		"route add 224.0.0.0/4 dev eth0",
	}
	if err := ipBatch(h, inside...); err != nil {
		return nil, err
	}
	if link.Rate > 0 {
		// The host's egress is what it sends, the bridge end's egress what it receives.
		if err := tbf(nil, h.peer, link.Rate); err != nil {
			return nil, err
		}
		if err := tbf(h, "eth0", link.Rate); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// tbf shapes the egress of dev, in host h (nil: the tests' namespace), to rate bits/s,
// with a bucket of 10 ms at that rate (at least 32 KiB, for the veth's 64 KiB GSO frames
// are cut to it) and at most 50 ms of queue.
func tbf(h *Host, dev string, rate int64) error {
	burst := max(rate/8/100, 32<<10)
	args := []string{"qdisc", "add", "dev", dev, "root", "tbf", "rate", strconv.FormatInt(rate, 10) + "bit",
		"burst", strconv.FormatInt(burst, 10), "latency", "50ms"}
	var cmd *exec.Cmd
	if h == nil {
		cmd = exec.Command("tc", args...)
	} else {
		cmd = h.Command("tc", args...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("tc %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// ipBatch runs the ip(8) commands lines in host h (nil: the tests' namespace), stopping at
// the first that fails.
func ipBatch(h *Host, lines ...string) error {
	var cmd *exec.Cmd
	if h == nil {
		cmd = exec.Command("ip", "-batch", "-")
	} else {
		cmd = h.Command("ip", "-batch", "-")
	}
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// newNetns returns a new network namespace, held by the file returned. It is made on a
// thread of its own, which then goes back to the namespace it was in; a thread that could
// not go back is never used again (it ends with its goroutine).
func newNetns() (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			done <- result{err: err}
			runtime.UnlockOSThread()
			return
		}
		defer origin.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- result{err: fmt.Errorf("unshare: %w", err)}
			runtime.UnlockOSThread()
			return
		}
		f, err := os.Open("/proc/thread-self/ns/net")
		if err := unix.Setns(int(origin.Fd()), unix.CLONE_NEWNET); err != nil {
			if f != nil {
				f.Close()
			}
			done <- result{err: fmt.Errorf("back to the tests' namespace: %w", err)}
			return // still locked: the thread ends with this goroutine
		}
		runtime.UnlockOSThread()
		done <- result{f, err}
	}()
	r := <-done
	return r.f, r.err
}

// Do runs f on a thread in h's namespace, locked to it, and waits for it: the sockets f
// makes are h's (a socket stays in the namespace it was made in, whichever thread uses it
// later), such as a multicast listener. Only f's own goroutine is in h: a goroutine it
// starts, or a name it resolves, is not.
func (h *Host) Do(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer origin.Close()
		if err := unix.Setns(int(h.ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("testnet: enter host %s: %w", h.Name, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(origin.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- errors.Join(ferr, fmt.Errorf("testnet: leave host %s: %w", h.Name, err))
			return // still locked: the thread ends with this goroutine
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// nsPath names h's namespace for other processes (nsenter, ip).
func (h *Host) nsPath() string { return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), h.ns.Fd()) }

// Command returns a command that runs name with args in h's network namespace, as
// exec.Command does, to start, wait for and kill as any other: it is nsenter(1), which
// enters the namespace and executes name in its own process, so the command's process is
// name's. Only the network namespace changes: the command sees the same files, mounts and
// processes as the tests.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=" + h.nsPath(), "--", name}, args...)...)
}

// CommandContext is Command with a context, as exec.CommandContext.
func (h *Host) CommandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + h.nsPath(), "--", name}, args...)...)
}

// Listen is net.Listen in h: the listener's socket is h's.
func (h *Host) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := h.Do(func() (err error) {
		l, err = net.Listen(network, address)
		return err
	})
	return l, err
}

// ListenPacket is net.ListenPacket in h.
func (h *Host) ListenPacket(network, address string) (net.PacketConn, error) {
	var c net.PacketConn
	err := h.Do(func() (err error) {
		c, err = net.ListenPacket(network, address)
		return err
	})
	return c, err
}

// DialContext is net.Dialer.DialContext in h. The address must be a literal IP and port:
// a name would be resolved on another thread, outside h.
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// Counters returns the bytes h has sent and received on its link so far.
func (h *Host) Counters() (Counters, error) {
	// /proc/thread-self/net is the namespace of the reading thread, which must be the
	// tests': only threads locked by Host.Do are ever elsewhere.
	runtime.LockOSThread()
	b, err := os.ReadFile("/proc/thread-self/net/dev")
	runtime.UnlockOSThread()
	if err != nil {
		return Counters{}, fmt.Errorf("testnet: counters of host %s: %w", h.Name, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) != h.peer {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			break
		}
		rx, err1 := strconv.ParseInt(f[0], 10, 64)
		tx, err2 := strconv.ParseInt(f[8], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return Counters{}, fmt.Errorf("testnet: counters of host %s: %w", h.Name, err)
		}
		// The bridge's end receives what the host sends.
		return Counters{Sent: rx, Received: tx}, nil
	}
	return Counters{}, fmt.Errorf("testnet: counters of host %s: no interface %s in /proc/net/dev", h.Name, h.peer)
}

// close removes the hosts' links and the bridge, and lets go of the hosts' namespaces. A
// namespace outlives this while a process started in it runs: the test stops those.
func (n *Network) close() error {
	n.mu.Lock()
	hosts := n.hosts
	n.hosts = nil
	n.mu.Unlock()
	var errs []error
	for _, h := range hosts {
		if h.ns == nil {
			continue
		}
		// Deleting one end of a veth pair deletes the other, in the host.
		if err := ipBatch(nil, "link del "+h.peer); err != nil && linkExists(h.peer) {
			errs = append(errs, err)
		}
		h.ns.Close()
	}
	if err := ipBatch(nil, "link del "+n.bridge); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}
