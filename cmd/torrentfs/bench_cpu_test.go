package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

var (
	benchCPUBefore   = flag.String("bench-cpu-before", "", "cpu: also stream with torrentfs built at this git revision, in turn with this build, in the same swarm")
	benchCPUProfiles = flag.String("bench-cpu-profiles", "", "cpu: write each mount's pprof CPU profile (TORRENTFS_CPUPROFILE) into this directory")
)

// cpuBuild is a torrentfs binary the cpu part measures.
type cpuBuild struct{ label, bin, name string }

// cpuMount mounts tor with b's binary and a fresh cache, with env added to the environment;
// with -bench-cpu-profiles, the mount writes its CPU profile there as b.name-what.pprof.
func (r *benchRun) cpuMount(b cpuBuild, what, tor string, env ...string) (string, *proc) {
	mnt := r.temp()
	args := append([]string{"mount", "--cache-dir", r.temp(), tor, mnt}, loopback...)
	cmd := exec.Command(b.bin, args...)
	cmd.Env = append(os.Environ(), env...)
	if *benchCPUProfiles != "" {
		cmd.Env = append(cmd.Env, "TORRENTFS_CPUPROFILE="+filepath.Join(*benchCPUProfiles, b.name+"-"+what+".pprof"))
	}
	p := startReady(r.b, cmd, func() { detachIfMounted(args) })
	p.waitReady(r.b)
	return mnt, p
}

// cpuCost: what streaming costs in CPU, the budget of a NAS or a small board (issue #26).
// Against the same third-party swarm (Transmission, aria2 and libtorrent seeding through
// opentracker), a mount streaming the file and a fresh aria2c downloading it, in turn, twice
// each; the least of each is compared, as CPU-seconds per GiB (user+sys of the process).
// Then a mount with GOMAXPROCS=1, pinned to one core, streams at a film's bitrate. With
// -bench-cpu-before, a build of an earlier revision takes its turn before this one's each
// time, in the same swarm and against the same aria2c runs.
func (r *benchRun) cpuCost(big string) {
	builds := []cpuBuild{{"", bin, "this"}}
	if *benchCPUBefore != "" {
		builds = append([]cpuBuild{{" (before: " + *benchCPUBefore + ")", r.buildAt(*benchCPUBefore), "before"}}, builds...)
	}
	label := "CPU, third-party seeders, 256K pieces"
	r.progress("profile %s", label)
	dir := r.temp()
	if err := os.Link(big, filepath.Join(dir, filepath.Base(big))); err != nil {
		r.b.Fatal(err)
	}
	tor := thirdPartySwarm(r.b, dir, filepath.Base(big))
	perGiB := func(cpu time.Duration) float64 { return cpu.Seconds() * (1 << 30) / benchSize }

	mountCPU, aria2CPU := make([]time.Duration, len(builds)), time.Duration(1<<62)
	for i := range mountCPU {
		mountCPU[i] = 1 << 62
	}
	for run := range 2 {
		for i, b := range builds {
			mnt, p := r.cpuMount(b, fmt.Sprint("stream", run), tor)
			file := filepath.Join(mnt, filepath.Base(big))
			before := cpuTime(r.b, p.cmd.Process.Pid)
			timeRead(r.b, file, 0, benchSize)
			cpu := cpuTime(r.b, p.cmd.Process.Pid) - before
			mountCPU[i] = min(mountCPU[i], cpu)
			r.cpuWasted(b, mnt, fmt.Sprint("stream ", run), cpu)
			unmount(r.b, p)
		}

		a := aria2(r.b, tor, r.temp(), "--seed-time=0", "--bt-stop-timeout=60")
		if code := a.wait(r.b); code != 0 {
			r.b.Fatalf("aria2c leecher: exit %d", code)
		}
		st := a.cmd.ProcessState
		aria2CPU = min(aria2CPU, st.UserTime()+st.SystemTime())
	}
	for i, b := range builds {
		r.add(benchRow{label + b.label, "CPU per GiB streamed (least of 2)", fmt.Sprintf("%.2f s", perGiB(mountCPU[i])),
			fmt.Sprintf("%.2f s (aria2c downloading it, least of 2)", perGiB(aria2CPU)),
			fmt.Sprintf("%.2f×", float64(mountCPU[i])/float64(aria2CPU)), "≤ 1.0×", mountCPU[i] <= aria2CPU})
	}
	for _, b := range builds {
		r.filmStream(b, label, tor, filepath.Base(big))
	}
}

// cpuWasted prints, as progress, what the mount at mnt received in all and how much of it
// came twice: a chunk received twice is read off the socket, decoded and recorded for smart
// banning for nothing, so it costs CPU per useful byte.
func (r *benchRun) cpuWasted(b cpuBuild, mnt, what string, cpu time.Duration) {
	out, err := exec.Command(b.bin, "status", "--json", mnt).Output()
	if err != nil {
		r.b.Fatalf("status --json: %v", err)
	}
	var rs []struct {
		Torrents []struct {
			Downloaded int64 `json:"downloaded"`
			Wasted     int64 `json:"wasted"`
		} `json:"torrents"`
	}
	if err := json.Unmarshal(out, &rs); err != nil {
		r.b.Fatalf("status --json: %v", err)
	}
	var useful, wasted int64
	for _, rr := range rs {
		for _, t := range rr.Torrents {
			useful += t.Downloaded
			wasted += t.Wasted
		}
	}
	r.progress("  %s%s, %s: %.2f s of CPU; received %d MiB useful, %d MiB wasted (%.1f%%)",
		b.name, b.label, what, cpu.Seconds(), useful>>20, wasted>>20, 100*float64(wasted)/float64(max(1, useful)))
}

// filmStream streams a 4K film's bitrate on a small board's budget: one core, GOMAXPROCS=1.
func (r *benchRun) filmStream(b cpuBuild, label, tor, name string) {

	const filmRate = 10 << 20
	const filmBytes = 160 << 20
	mnt, p := r.cpuMount(b, "film", tor, "GOMAXPROCS=1")
	if out, err := exec.Command("taskset", "-a", "-c", "-p", "0", strconv.Itoa(p.cmd.Process.Pid)).CombinedOutput(); err != nil {
		r.b.Fatalf("taskset: %v: %s", err, out)
	}
	f, err := os.Open(filepath.Join(mnt, name))
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
	r.add(benchRow{label + b.label + ", GOMAXPROCS=1 on one core (taskset)", "a 10 MiB/s stream of 160 MiB: CPU, share of the core",
		fmt.Sprintf("%.1f%%", 100*share), "", "", "≤ 5%", share <= 0.05})
}
