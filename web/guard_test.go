package web

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStallDeadlines runs Protect's write deadlines under the race detector, on a real TCP
// server: a client that stops reading is cut off, one that reads slowly for longer than
// the timeout gets every byte.
func TestStallDeadlines(t *testing.T) {
	const d = 500 * time.Millisecond
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	cut := make(chan error, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		_, err := io.Copy(w, bytes.NewReader(data))
		cut <- err
	})
	srv := httptest.NewUnstartedServer(Protect(h, Options{StallTimeout: d, Logger: slog.New(slog.DiscardHandler)}))
	srv.Config.ConnContext = ConnContext
	srv.Start()
	defer srv.Close()
	dial := func() (net.Conn, *bufio.Reader) {
		d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		}}
		c, err := d.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		return c, bufio.NewReaderSize(c, 1024)
	}

	stalled, _ := dial()
	defer stalled.Close()
	if err := <-cut; err == nil {
		t.Fatal("a client that reads nothing was sent the whole response")
	}

	slow, br := dial()
	defer slow.Close()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for start := time.Now(); time.Since(start) < 3*d; <-tick.C {
		if _, err := io.CopyN(&got, resp.Body, 16<<10); err != nil {
			t.Fatalf("slow client after %d bytes: %v", got.Len(), err)
		}
	}
	if _, err := io.Copy(&got, resp.Body); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("slow client: %d bytes, %v", got.Len(), err)
	}
	if err := <-cut; err != nil {
		t.Fatalf("the slow client's response: %v", err)
	}
}

// TestLogins: failures back off per address (per /64 for IPv6), a flood of addresses keeps
// the map bounded without refusing the addresses past it,
// and the log gets one line per loginLogEvery however many fail.
func TestLogins(t *testing.T) {
	var log bytes.Buffer
	l := newLogins(slog.New(slog.NewTextHandler(&log, nil)))
	now := time.Now()
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		l.failed("10.0.0.1", now)
		if got := l.wait("10.0.0.1", now); got != want {
			t.Errorf("after %d failures: wait %v, want %v", i+1, got, want)
		}
	}
	if l.wait("10.0.0.2", now) != 0 {
		t.Error("another address waits")
	}
	l.succeeded("10.0.0.1")
	if l.wait("10.0.0.1", now) != 0 {
		t.Error("still waits after a success")
	}
	for i := range 20000 {
		l.failed(fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255), now.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(l.addrs); n > loginMaxAddrs+1 {
		t.Errorf("%d addresses tracked", n)
	}
	if l.wait("192.0.2.1", now.Add(20*time.Second)) != 0 {
		t.Error("a new address past the bound is refused: a flood from many addresses would lock users out")
	}
	if lines := strings.Count(log.String(), "http login failed"); lines > 20000/int(loginLogEvery/time.Millisecond)+2 {
		t.Errorf("%d log lines for 20000 failures over 20 s", lines)
	}
}

// TestRemoteIP: an IPv6 client is keyed by its /64, from which it can take addresses at
// will; an IPv4 one by its address.
func TestRemoteIP(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:4000":           "192.0.2.7",
		"[2001:db8:1:2::7]:4000":   "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:1": "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:80":    "::ffff:192.0.2.7",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr
		if got := remoteIP(r); got != want {
			t.Errorf("remoteIP(%s) = %s, want %s", addr, got, want)
		}
	}
}
