package testnet_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/torrentfs/torrentfs/internal/testnet"
)

func TestMain(m *testing.M) {
	testnet.Isolate()
	os.Exit(m.Run())
}

// TestIsolated checks, run as root, that the tests and the processes they start are in a
// network namespace of their own, that only loopback is in it, up, and that an address
// elsewhere cannot be reached; run as another user, that nothing changed.
func TestIsolated(t *testing.T) {
	if os.Geteuid() != 0 {
		if testnet.Isolated() {
			t.Fatalf("%s is set in a test run as uid %d", testnet.Env, os.Geteuid())
		}
		return
	}
	if !testnet.Isolated() {
		t.Fatalf("run as root, the tests are not isolated: %s is not set", testnet.Env)
	}
	// The parent is the test binary that made the namespace, in the one it was started in.
	ours, parent := netns(t, os.Getpid()), netns(t, os.Getppid())
	if ours == parent {
		t.Fatalf("the tests share %s with the process that started them", ours)
	}
	out, err := exec.Command("readlink", "/proc/self/ns/net").Output()
	if err != nil {
		t.Fatal(err)
	}
	if child := strings.TrimSpace(string(out)); child != ours {
		t.Fatalf("a child process is in %s, the tests in %s", child, ours)
	}

	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(ifs) != 1 || ifs[0].Name != "lo" || ifs[0].Flags&net.FlagUp == 0 {
		t.Fatalf("interfaces %v; want lo alone, up", ifs)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("loopback: %v", err)
	}
	c.Close()
	// 192.0.2.1 is TEST-NET-1: with no route, the dial fails at once.
	_, err = net.DialTimeout("tcp", "192.0.2.1:80", 10*time.Second)
	if !errors.Is(err, syscall.ENETUNREACH) {
		t.Fatalf("dial 192.0.2.1:80: %v; want %v", err, syscall.ENETUNREACH)
	}
}

// netns returns the network namespace of process pid, as /proc names it.
func netns(t *testing.T, pid int) string {
	t.Helper()
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatal(err)
	}
	return ns
}
