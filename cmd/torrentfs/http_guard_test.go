package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dialSmall connects to addr with a receive buffer of a few KiB, so that a response the
// test does not read fills up at once.
func dialSmall(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// serverClosed reports whether the server's end of the test's connection c has left
// ESTABLISHED (or the kernel's TCP table no longer holds it): the server closed it. The test
// shares the server's network namespace, so its TCP table lists both ends.
func serverClosed(t *testing.T, c net.Conn) bool {
	t.Helper()
	client, server := c.LocalAddr().String(), c.RemoteAddr().String()
	for _, s := range tcpSockets(t, "self") {
		if s.local == server && s.remote == client {
			return s.state != tcpEstablished
		}
	}
	return true
}

// TestHTTPGuard: every response is nosniff and torrent content is sandboxed; a request
// addressed to another name is refused (DNS rebinding) unless --http-host allows it; a
// cross-site POST is refused; with --http-max-requests 1, a second request while a first
// is served gets 503; a client that stops reading is cut off after --http-timeout, which
// frees its place; a slow client that keeps reading gets every byte.
func TestHTTPGuard(t *testing.T) {
	tor, data, addr := swarm(t, "big.bin", 16<<20)
	const timeout = 2 * time.Second
	p, _, base := httpMount(t, tor, addr, "--http-max-requests", "1", "--http-timeout", timeout.String(), "-o", "http_host=media.example.")
	hostPort := strings.TrimPrefix(base, "http://")
	req := func(method, u string, header ...string) *http.Response {
		t.Helper()
		r, err := http.NewRequest(method, base+u, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			if header[i] == "Host" {
				r.Host = header[i+1]
			} else {
				r.Header.Set(header[i], header[i+1])
			}
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	for _, u := range []string{"/", "/api/torrents", "/metrics", "/files/big.bin", "/files/", "/files/nope", "/nope"} {
		resp := req("HEAD", u)
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %s, no nosniff: %v", u, resp.Status, resp.Header)
		}
		if sandboxed := resp.Header.Get("Content-Security-Policy") == "sandbox"; sandboxed != strings.HasPrefix(u, "/files/") {
			t.Errorf("%s: Content-Security-Policy %q", u, resp.Header.Get("Content-Security-Policy"))
		}
	}

	// Host names.
	for host, want := range map[string]int{"evil.example": 403, "evil.example:80": 403, "localhost.evil.example": 403,
		"localhost:1": 200, "127.0.0.1": 200, "[::1]:80": 200, "media.example": 200, "MEDIA.example.:8080": 200} {
		if resp := req("GET", "/api/torrents", "Host", host); resp.StatusCode != want {
			t.Errorf("Host %s: %s, want %d", host, resp.Status, want)
		}
	}
	r, _ := http.NewRequest("GET", base+"/", nil)
	r.Host = "evil.example"
	resp, b := doBody(t, r)
	if resp.StatusCode != 403 || !strings.Contains(string(b), "--http-host evil.example") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("Host evil.example: %s %q", resp.Status, b)
	}

	// A state-changing method from another site.
	if resp := req("POST", "/api/torrents", "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site POST: %s, want 403", resp.Status)
	}
	if resp := req("POST", "/api/torrents", "Origin", "http://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a POST with Origin http://evil.example: %s, want 403", resp.Status)
	}
	if resp := req("POST", "/api/torrents"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("a POST: %s, want 405: no endpoint changes state", resp.Status)
	}

	// A client that stops reading holds the only place, then is cut off.
	stalled := dialSmall(t, hostPort)
	fmt.Fprintf(stalled, "GET /files/big.bin HTTP/1.1\r\nHost: %s\r\n\r\n", hostPort)
	br := bufio.NewReaderSize(stalled, 1024)
	if status, err := br.ReadString('\n'); err != nil || !strings.Contains(status, " 200 ") {
		t.Fatalf("the stalled request: %q %v", status, err)
	}
	headersAt := time.Now()
	if resp := req("GET", "/api/torrents"); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a second request while the only place is taken: %s, Retry-After %q; want 503", resp.Status, resp.Header.Get("Retry-After"))
	}
	// The client, stalled, cannot see the cut without reading, and reading would unstall it;
	// the kernel's table shows the server's end of it closed, which the server does after
	// the guard has warned. The warning is what this checks.
	waitUntil(t, "the server to close the stalled connection", func() bool { return serverClosed(t, stalled) })
	p.wantLogged(t, "http response cut off")
	if d := time.Since(headersAt); d < timeout {
		t.Errorf("cut off %v after its headers, before --http-timeout %v", d, timeout)
	}
	if resp := req("GET", "/api/torrents"); resp.StatusCode != http.StatusOK {
		t.Errorf("a request after the stalled one was cut off: %s", resp.Status)
	}
	n, _ := io.Copy(io.Discard, br)
	if n >= int64(len(data)) {
		t.Errorf("the stalled client got %d bytes, the whole file", n)
	}

	// A slow client that keeps reading: 64 KiB every 400 ms, for longer than the timeout.
	// (Were progress a write of 32 KiB that completes, it would be cut off: the kernel
	// wakes a blocked writer only once a third of its send buffer, megabytes, is free.)
	slow := dialSmall(t, hostPort)
	fmt.Fprintf(slow, "GET /files/big.bin HTTP/1.1\r\nHost: %s\r\n\r\n", hostPort)
	resp, err := http.ReadResponse(bufio.NewReaderSize(slow, 1024), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the slow request: %v %v", resp, err)
	}
	var got bytes.Buffer
	tick := time.NewTicker(400 * time.Millisecond)
	defer tick.Stop()
	for start := time.Now(); time.Since(start) < timeout*3/2; <-tick.C {
		if _, err := io.CopyN(&got, resp.Body, 64<<10); err != nil {
			t.Fatalf("the slow client, after %d bytes: %v", got.Len(), err)
		}
	}
	if _, err := io.Copy(&got, resp.Body); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("the slow client got %d bytes (%v), equal to the file: %v", got.Len(), err, bytes.Equal(got.Bytes(), data))
	}
	if code := p.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

// doBody sends r and returns the response with its whole body.
func doBody(t testing.TB, r *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}
