package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// cpuCost: what streaming costs in CPU, the budget of a NAS or a small board (issue #26).
// Against the same third-party swarm (Transmission, aria2 and libtorrent seeding through
// opentracker), a mount streaming the file and a fresh aria2c downloading it, in turn, twice
// each; the least of each is compared, as CPU-seconds per GiB (user+sys of the process).
// Then a mount with GOMAXPROCS=1, pinned to one core, streams at a film's bitrate.
func (r *benchRun) cpuCost(big string) {
	label := "CPU, third-party seeders, 256K pieces"
	r.progress("profile %s", label)
	dir := r.temp()
	if err := os.Link(big, filepath.Join(dir, filepath.Base(big))); err != nil {
		r.b.Fatal(err)
	}
	tor := thirdPartySwarm(r.b, dir, filepath.Base(big))
	perGiB := func(cpu time.Duration) float64 { return cpu.Seconds() * (1 << 30) / benchSize }

	mountCPU, aria2CPU := time.Duration(1<<62), time.Duration(1<<62)
	for range 2 {
		mnt, p, _ := r.mount(tor, "", nil)
		file := filepath.Join(mnt, filepath.Base(big))
		before := cpuTime(r.b, p.cmd.Process.Pid)
		timeRead(r.b, file, 0, benchSize)
		mountCPU = min(mountCPU, cpuTime(r.b, p.cmd.Process.Pid)-before)
		unmount(r.b, p)

		a := aria2(r.b, tor, r.temp(), "--seed-time=0", "--bt-stop-timeout=60")
		if code := a.wait(r.b); code != 0 {
			r.b.Fatalf("aria2c leecher: exit %d", code)
		}
		st := a.cmd.ProcessState
		aria2CPU = min(aria2CPU, st.UserTime()+st.SystemTime())
	}
	r.add(benchRow{label, "CPU per GiB streamed (least of 2)", fmt.Sprintf("%.2f s", perGiB(mountCPU)),
		fmt.Sprintf("%.2f s (aria2c downloading it, least of 2)", perGiB(aria2CPU)),
		fmt.Sprintf("%.2f×", float64(mountCPU)/float64(aria2CPU)), "≤ 1.0×", mountCPU <= aria2CPU})

	// A 4K film's bitrate on a small board's budget: one core, GOMAXPROCS=1.
	const filmRate = 10 << 20
	const filmBytes = 160 << 20
	mnt := r.temp()
	args := append([]string{"mount", "--cache-dir", r.temp(), tor, mnt}, loopback...)
	p := start(r.b, []string{"GOMAXPROCS=1"}, args...)
	if out, err := exec.Command("taskset", "-a", "-c", "-p", "0", strconv.Itoa(p.cmd.Process.Pid)).CombinedOutput(); err != nil {
		r.b.Fatalf("taskset: %v: %s", err, out)
	}
	p.waitReady(r.b)
	f, err := os.Open(filepath.Join(mnt, filepath.Base(big)))
	if err != nil {
		r.b.Fatal(err)
	}
	before, t0 := cpuTime(r.b, p.cmd.Process.Pid), time.Now()
	lim := rate.NewLimiter(filmRate, 1<<20)
	buf := make([]byte, 1<<20)
	for n := 0; n < filmBytes; {
		if err := lim.WaitN(context.Background(), len(buf)); err != nil {
			r.b.Fatal(err)
		}
		m, err := io.ReadFull(f, buf)
		if err != nil {
			r.b.Fatal(err)
		}
		n += m
	}
	share := float64(cpuTime(r.b, p.cmd.Process.Pid)-before) / float64(time.Since(t0))
	f.Close()
	unmount(r.b, p)
	r.add(benchRow{label + ", GOMAXPROCS=1 on one core (taskset)", "a 10 MiB/s stream of 160 MiB: CPU, share of the core",
		fmt.Sprintf("%.1f%%", 100*share), "", "", "≤ 5%", share <= 0.05})
}
