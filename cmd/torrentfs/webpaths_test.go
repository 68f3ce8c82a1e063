package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// hugePropfindRSS bounds how much a PROPFIND Depth 1 of 100,000 files may grow the serve
// process's peak RSS (measured: under 1 MiB, from 234 MiB; 1 KiB more held per entry
// grew it by 95 MiB).
const hugePropfindRSS = 64 << 20

// TestHTTPHostilePaths asks serve's /files/ and /dav/ for paths that play tricks, in raw
// requests that no client library has cleaned: dot-dot and dot elements, plain or
// percent-encoded in either case, encoded slashes, double encoding, backslashes, NULs and
// empty elements. Each gets 404. A file whose name is "%2e" is still served as
// "%252e": percent-encoding is undone once.
func TestHTTPHostilePaths(t *testing.T) {
	files := map[string][]byte{
		"c.txt": []byte("c\n"), "sub/d.txt": []byte("d\n"), "%2e": []byte("percent\n"),
	}
	tor, addr, _ := multiSwarm(t, "tree", files)
	_, base, _ := serve(t, []string{addr}, tor)

	for _, prefix := range []string{"/files", "/dav"} {
		for p, want := range map[string][]byte{"/tree/c.txt": files["c.txt"], "/tree/sub/d.txt": files["sub/d.txt"], "/tree/%252e": files["%2e"]} {
			if code, body := rawStatus(t, base, "GET", prefix+p); code != 200 || body != string(want) {
				t.Errorf("GET %s%s: %d %q, want 200 %q", prefix, p, code, body, want)
			}
		}
		for _, p := range []string{
			"/../files/tree/c.txt", "/../dav/tree/c.txt", "/tree/../tree/c.txt", "/tree/sub/../c.txt", "/tree/c.txt/..",
			"/tree/sub/..", "/./tree/c.txt", "/tree/./c.txt", "/tree/.",
			"/%2e%2e/files/tree/c.txt", "/%2E%2E/dav/tree/c.txt", "/tree/%2e%2e/tree/c.txt", "/tree/.%2e/tree/c.txt",
			"/tree/%2e./tree/c.txt", "/tree/%2e/c.txt", "/tree/sub/%2e%2e",
			"/tree%2fc.txt", "/tree%2Fsub%2Fd.txt", "/tree/..%2f..%2fetc/passwd", "/tree/sub%2f..%2fc.txt",
			"/%252e%252e/files/tree/c.txt", "/tree/%252e%252e/tree/c.txt", "/tree%252fc.txt", "/tree/sub%252f..%252fc.txt",
			"/tree\\c.txt", "/tree%5cc.txt", "/tree%5Csub%5Cd.txt", "/tree/..\\..\\etc\\passwd", "/tree/sub\\..\\c.txt",
			"/tree/c.txt%00", "/tree%00/c.txt", "/tree/c.txt%00.jpg",
			"//tree/c.txt", "/tree//c.txt", "/tree/sub//d.txt",
		} {
			methods := []string{"GET", "HEAD"}
			if prefix == "/dav" {
				methods = append(methods, "PROPFIND")
			}
			for _, m := range methods {
				if code, _ := rawStatus(t, base, m, prefix+p, "Depth", "0"); code != http.StatusNotFound {
					t.Errorf("%s %s%s: %d, want 404", m, prefix, p, code)
				}
			}
		}
	}
}

// hugeTree writes a torrent called name of n one-byte files in one directory, big/, and
// one beside it; its piece hashes are zeros: nothing is read.
func hugeTree(t *testing.T, name string, n int) string {
	info := metainfo.Info{Name: name, PieceLength: 1 << 20}
	for i := range n {
		info.Files = append(info.Files, metainfo.FileInfo{Path: []string{"big", fmt.Sprintf("f%06d.mkv", i)}, Length: 1})
	}
	info.Files = append(info.Files, metainfo.FileInfo{Path: []string{"readme.txt"}, Length: 1})
	info.Pieces = make([]byte, 20*((int64(n)+1+info.PieceLength-1)/info.PieceLength))
	ib, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bencode.Marshal(metainfo.MetaInfo{InfoBytes: ib})
	if err != nil {
		t.Fatal(err)
	}
	tor := filepath.Join(t.TempDir(), name+".torrent")
	if err := os.WriteFile(tor, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return tor
}

// propfindCount sends a PROPFIND of target with depth and counts the responses in the
// multistatus as it streams in, without keeping it. It returns the status, the count and
// the time the whole answer took.
func propfindCount(t *testing.T, base, target, depth string) (int, int, time.Duration) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	began := time.Now()
	fmt.Fprintf(c, "PROPFIND %s HTTP/1.1\r\nHost: 127.0.0.1\r\nDepth: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", target, depth)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("PROPFIND %s: %v", target, err)
	}
	defer resp.Body.Close()
	n, err := countResponses(resp.Body)
	if err != nil {
		t.Fatalf("PROPFIND %s: %v after %d responses", target, err, n)
	}
	return resp.StatusCode, n, time.Since(began)
}

// countResponses counts "<D:response>" in r.
func countResponses(r io.Reader) (int, error) {
	const tag = "<D:response>"
	br := bufio.NewReaderSize(r, 64<<10)
	n, matched := 0, 0
	for {
		b, err := br.ReadByte()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		switch {
		case b == tag[matched]:
			if matched++; matched == len(tag) {
				n, matched = n+1, 0
			}
		case b == tag[0]:
			matched = 1
		default:
			matched = 0
		}
	}
}

// TestHugePropfind serves a torrent of 100,000 files in one directory and asks WebDAV for
// it: Depth infinity of any collection is refused at once (403 propfind-finite-depth),
// and Depth 1 of the big directory answers every file, its memory bounded: the serve
// process's peak RSS grows by less than hugePropfindRSS. The time it takes is logged, not
// asserted (3.3 s on a loaded 2-core machine).
func TestHugePropfind(t *testing.T) {
	const n = 100_000
	tor := hugeTree(t, "huge", n)
	// A heap kept within a fifth of what is live, so that the PROPFIND finds little of what
	// building the tree freed to reuse, and its own memory shows in the RSS.
	t.Setenv("GOGC", "20")
	p, base, _ := serve(t, nil, tor)
	pid := p.cmd.Process.Pid

	for _, target := range []string{"/dav/", "/dav/huge/", "/dav/huge/big/"} {
		code, body := rawStatus(t, base, "PROPFIND", target, "Depth", "infinity")
		if code != http.StatusForbidden || !strings.Contains(body, "propfind-finite-depth") {
			t.Errorf("PROPFIND %s Depth infinity: %d %q", target, code, body)
		}
	}
	if code, got, _ := propfindCount(t, base, "/dav/huge/", "1"); code != 207 || got != 3 {
		t.Errorf("PROPFIND /dav/huge/ Depth 1: %d, %d responses, want 3", code, got)
	}

	// Peak RSS from now on: writing 5 to clear_refs resets VmHWM to the current RSS.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatal(err)
	}
	before := procStatus(pid, "VmRSS:")
	code, got, took := propfindCount(t, base, "/dav/huge/big/", "1")
	peak := vmHWM(t, pid)
	t.Logf("PROPFIND Depth 1 of %d files: %v; RSS %d MiB before, peak %d MiB (+%d MiB)", n, took.Round(time.Millisecond), before>>20, peak>>20, (peak-before)>>20)
	if code != 207 || got != n+1 {
		t.Fatalf("PROPFIND /dav/huge/big/ Depth 1: %d, %d responses, want %d", code, got, n+1)
	}
	if grew := peak - before; grew > hugePropfindRSS {
		t.Errorf("PROPFIND Depth 1 of %d files grew the peak RSS by %d MiB, more than %d MiB", n, grew>>20, hugePropfindRSS>>20)
	}
	if code, got, _ := propfindCount(t, base, "/dav/huge/big/f099999.mkv", "0"); code != 207 || got != 1 {
		t.Errorf("PROPFIND Depth 0 of the last file: %d, %d responses", code, got)
	}
}
