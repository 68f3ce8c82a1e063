package main

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// serveRead: torrentfs serve's two ways to a file, on a fresh cache each: GET of /files/PATH
// (the baseline) and GET of /dav/PATH, the WebDAV share's, as Finder, Windows' WebClient,
// Infuse and Kodi read. Each is read whole, 512 MiB from a `torrentfs seed` on loopback,
// interleaved, three times; reported are the best first byte (from the request to the first
// byte of the body) and the best sequential rate.
func (r *benchRun) serveRead(big string) {
	const label = "serve: WebDAV against /files/"
	r.progress("profile %s", label)
	tor := r.create(big, "256K")
	seeder := start(r.b, nil, append([]string{"seed", tor, big}, loopback...)...)
	defer seeder.stop(r.b, syscall.SIGINT)
	peer := seeder.seedAddr(r.b)
	name := filepath.Base(big)

	type way struct {
		path         string
		first, whole []time.Duration
	}
	ways := []*way{{path: "/files/" + name}, {path: "/dav/" + name}}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	buf := make([]byte, 1<<20)
	for range 3 {
		for _, w := range ways {
			hp := freePort(r.b)
			args := append([]string{"serve", "--name", fmt.Sprintf("bench%d", r.n), "--cache-dir", r.temp(),
				"--http", fmt.Sprintf("127.0.0.1:%d", hp), "--peer", peer, tor}, loopback...)
			p := start(r.b, nil, args...)
			p.waitReady(r.b)
			t0 := time.Now()
			resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", hp, w.path))
			if err != nil {
				r.b.Fatalf("GET %s: %v", w.path, err)
			}
			if resp.StatusCode != http.StatusOK {
				r.b.Fatalf("GET %s: %s", w.path, resp.Status)
			}
			var n int64
			var first time.Duration
			for {
				m, err := resp.Body.Read(buf)
				if m > 0 && n == 0 {
					first = time.Since(t0)
				}
				n += int64(m)
				if err == io.EOF {
					break
				}
				if err != nil {
					r.b.Fatalf("GET %s: after %d bytes: %v", w.path, n, err)
				}
			}
			whole := time.Since(t0)
			resp.Body.Close()
			if n != benchSize {
				r.b.Fatalf("GET %s: %d bytes, want %d", w.path, n, benchSize)
			}
			if code := p.stop(r.b, syscall.SIGINT); code != 0 {
				r.b.Fatalf("serve exited %d", code)
			}
			w.first = append(w.first, first)
			w.whole = append(w.whole, whole)
		}
	}
	files, dav := ways[0], ways[1]
	ff, df := slices.Min(files.first), slices.Min(dav.first)
	fw, dw := slices.Min(files.whole), slices.Min(dav.whole)
	r.add(benchRow{label, "first byte of a cold GET (best of 3)", ms(df), ms(ff) + " (/files/)",
		fmt.Sprintf("%.0f%%", 100*float64(df)/float64(ff)) + " of the time", "", true})
	r.add(benchRow{label, "cold sequential GET of 512 MiB (best of 3)", mibps(benchSize, dw), mibps(benchSize, fw) + " (/files/)",
		ratio(fw, dw), "≥ 95%", float64(fw)/float64(dw) >= 0.95})
}
