package main

import (
	"crypto/sha1"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// webSeed: a torrent whose only source is nginx (a url-list, BEP 19), against aria2
// downloading the same torrent from the same nginx in the same run (issue #23). Rows: aria2's
// rate; a fresh mount's first 64 KiB, its whole sequential read, and a fresh mount's first
// 64 KiB in the middle of the file (a seek).
func (r *benchRun) webSeed(big string) {
	r.progress("web seed: nginx as the only source")
	root := r.temp()
	data := filepath.Join(root, "big.bin")
	if err := os.Link(big, data); err != nil {
		r.b.Fatal(err)
	}
	port := nginx(r.b, root, "")
	out := filepath.Join(r.temp(), "big.torrent")
	if code, _, errOut := torrentfs(r.b, nil, "create", "-o", out, "--web-seed", fmt.Sprintf("http://127.0.0.1:%d/", port), data); code != 0 {
		r.b.Fatalf("create: %s", errOut)
	}
	want := fileSHA1(r, data)

	n := int64(benchSize)
	t0 := time.Now()
	a := aria2(r.b, out, r.temp(), "--seed-time=0", "--bt-stop-timeout=60")
	if code := a.wait(r.b); code != 0 {
		r.b.Fatalf("aria2c: exit %d", code)
	}
	aria := time.Since(t0)
	ariaCPU := a.cmd.ProcessState.UserTime() + a.cmd.ProcessState.SystemTime()
	r.add(benchRow{"web seed", "aria2: whole torrent from nginx (url-list only)", mibps(n, aria), "", "", "", true})

	mnt, p, _ := r.mount(out, "", nil)
	path := filepath.Join(mnt, "big.bin")
	first := timeRead(r.b, path, 0, 64<<10)
	r.add(benchRow{"web seed", "fresh mount: first 64 KiB", ms(first), "", "", "≤ 200 ms", first <= 200*time.Millisecond})
	f, err := os.Open(path)
	if err != nil {
		r.b.Fatal(err)
	}
	h := sha1.New()
	cpu0 := cpuTime(r.b, p.cmd.Process.Pid)
	t0 = time.Now()
	if _, err := io.CopyBuffer(h, f, make([]byte, 1<<20)); err != nil {
		r.b.Fatal(err)
	}
	whole := time.Since(t0)
	cpu := cpuTime(r.b, p.cmd.Process.Pid) - cpu0
	f.Close()
	if string(h.Sum(nil)) != string(want) {
		r.b.Fatal("web seed: the mount's bytes differ from the source's")
	}
	r.add(benchRow{"web seed", "fresh mount: whole file, sequential 1 MiB reads", mibps(n, whole), mibps(n, aria) + " (aria2)",
		ratio(aria, whole), "≥ 100%", whole <= aria})
	r.add(benchRow{"web seed", "CPU time of the whole read (the mount's process)", ms(cpu), ms(ariaCPU) + " (aria2's download)", "", "", true})
	unmount(r.b, p)

	mnt, p, _ = r.mount(out, "", nil)
	seek := timeRead(r.b, filepath.Join(mnt, "big.bin"), n/2+12345, 64<<10)
	r.add(benchRow{"web seed", "fresh mount: first 64 KiB at the middle (a seek)", ms(seek), "", "", "≤ 200 ms", seek <= 200*time.Millisecond})
	unmount(r.b, p)
}

func fileSHA1(r *benchRun, path string) []byte {
	f, err := os.Open(path)
	if err != nil {
		r.b.Fatal(err)
	}
	defer f.Close()
	h := sha1.New()
	if _, err := io.Copy(h, f); err != nil {
		r.b.Fatal(err)
	}
	return h.Sum(nil)
}
