package fetch_test

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/torrentfs/torrentfs/internal/testnet"
)

// ltDHT is a libtorrent DHT node (testdata/ltdht.py, Debian's python3-libtorrent) that
// counts the DHT queries it receives for each info-hash.
type ltDHT struct {
	Addr string

	mu       sync.Mutex
	queries  map[string]int // get_peers and announce_peer, by info-hash (hex); guarded by mu
	seeding  bool           // guarded by mu
	changed  chan struct{}  // closed and replaced on every line; guarded by mu
	listened chan struct{}
	cmd      *exec.Cmd
	done     chan struct{} // closed when its output ends
}

// startLtDHT starts a libtorrent DHT node on addr (host:port), joining through boot, with
// args after them (--seed TORRENT DIR), and returns once its DHT socket is up. It is
// stopped when the test ends. Tests that join the DHT run only in the tests' private
// network namespace: outside it, the test fails rather than touch a real network.
func startLtDHT(t testing.TB, addr string, boot []string, args ...string) *ltDHT {
	t.Helper()
	if !testnet.Isolated() {
		t.Fatal("DHT tests run only in the tests' private network namespace (run them as root)")
	}
	n := &ltDHT{Addr: addr, queries: make(map[string]int), changed: make(chan struct{}),
		listened: make(chan struct{}), done: make(chan struct{})}
	n.cmd = exec.Command("/usr/bin/python3", append(append([]string{"testdata/ltdht.py", addr}, boot...), args...)...)
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n.cmd.Stderr = n.cmd.Stdout
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("libtorrent DHT node (python3-libtorrent): %v", err)
	}
	t.Cleanup(n.Stop)
	var lines []string
	go func() {
		defer close(n.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			n.mu.Lock()
			switch {
			case len(f) == 2 && (f[0] == "get_peers" || f[0] == "announce"):
				n.queries[strings.ToLower(f[1])]++
			case len(f) == 1 && f[0] == "listening":
				close(n.listened)
			case len(f) == 1 && f[0] == "seeding":
				n.seeding = true
			default:
				lines = append(lines, sc.Text())
			}
			close(n.changed)
			n.changed = make(chan struct{})
			n.mu.Unlock()
		}
	}()
	select {
	case <-n.listened:
	case <-n.done:
		t.Fatalf("libtorrent DHT node on %s ended: %q", addr, lines)
	case <-time.After(30 * time.Second):
		t.Fatalf("libtorrent DHT node on %s: no DHT socket after 30 s: %q", addr, lines)
	}
	return n
}

// Stop kills the node and waits for it.
func (n *ltDHT) Stop() {
	n.cmd.Process.Kill()
	<-n.done
	n.cmd.Wait()
}

// Queries returns how many get_peers and announce_peer queries for info-hash ih (hex) the
// node received.
func (n *ltDHT) Queries(ih string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.queries[strings.ToLower(ih)]
}

// waitSeeding waits until the node seeds its torrent.
func (n *ltDHT) waitSeeding(t testing.TB) {
	t.Helper()
	waitUntil(t, "libtorrent seeds", func() bool { n.mu.Lock(); defer n.mu.Unlock(); return n.seeding })
}

// waitUntil polls cond until it holds, failing the test after a minute.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not after a minute", what)
		case <-tick.C:
		}
	}
}

// listenCounting listens on addr and counts the connections it accepts until the test ends.
func listenCounting(t testing.TB, addr string) (net.Listener, func() int) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
			c.Close()
		}
	})
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return l, func() int { mu.Lock(); defer mu.Unlock(); return n }
}
