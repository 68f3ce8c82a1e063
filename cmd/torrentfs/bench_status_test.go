package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"
)

// statusCost: what the status machinery costs a stream. The same 512 MiB is read cold
// through a mount three ways, interleaved, three times each: plain; with --http, its
// metrics scraped every second; and with --http and Chromium showing the status page, which
// redraws every second. Each way's best read rate and its CPU time per GiB are compared
// with the plain mount's of the same run.
func (r *benchRun) statusCost(big string) {
	r.progress("status machinery")
	tor := r.create(big, "256K")
	seeder := start(r.b, nil, append([]string{"seed", tor, big}, loopback...)...)
	defer seeder.stop(r.b, syscall.SIGINT)
	peer := seeder.seedAddr(r.b)
	ctx := browser(r.b)

	type way struct {
		name     string
		http     bool
		watch    bool // Chromium shows the status page
		reads    []time.Duration
		cpuPerGi []time.Duration
	}
	ways := []*way{{name: "plain"}, {name: "--http, /metrics scraped every second", http: true},
		{name: "--http, the status page open in Chromium", http: true, watch: true}}
	for range 3 {
		for _, w := range ways {
			var extra []string
			hp := 0
			if w.http {
				hp = freePort(r.b)
				extra = []string{"--http", fmt.Sprintf("127.0.0.1:%d", hp)}
			}
			mnt, p, _ := r.mount(tor, "", extra, peer)
			base := fmt.Sprintf("http://127.0.0.1:%d", hp)
			stop := make(chan struct{})
			done := make(chan struct{})
			switch {
			case w.watch:
				tctx, cancel := context.WithTimeout(ctx, time.Minute)
				if err := chromedp.Do(tctx, chromedp.Navigate(base+"/")); err != nil {
					r.b.Fatalf("open the status page: %v", err)
				}
				cancel()
				close(done)
			case w.http:
				go func() { // a Prometheus server's scrapes
					defer close(done)
					tick := time.NewTicker(time.Second)
					defer tick.Stop()
					for {
						get(r.b, base+"/metrics")
						select {
						case <-tick.C:
						case <-stop:
							return
						}
					}
				}()
			default:
				close(done)
			}
			cpu0 := cpuTime(r.b, p.cmd.Process.Pid)
			d := timeRead(r.b, filepath.Join(mnt, filepath.Base(big)), 0, benchSize)
			cpu := cpuTime(r.b, p.cmd.Process.Pid) - cpu0
			close(stop)
			<-done
			if w.watch {
				chromedp.Do(ctx, chromedp.Navigate("about:blank"))
			}
			unmount(r.b, p)
			w.reads = append(w.reads, d)
			w.cpuPerGi = append(w.cpuPerGi, cpu*(1<<30)/benchSize)
		}
	}
	plain, plainCPU := slices.Min(ways[0].reads), slices.Min(ways[0].cpuPerGi)
	for _, w := range ways {
		best, cpu := slices.Min(w.reads), slices.Min(w.cpuPerGi)
		r.add(benchRow{"status machinery", "cold sequential read of 512 MiB, " + w.name + " (best of 3)", mibps(benchSize, best),
			mibps(benchSize, plain) + " (plain)", ratio(plain, best), "≥ 95%", float64(plain)/float64(best) >= 0.95})
		r.add(benchRow{"status machinery", "CPU time of the mount per GiB read, " + w.name + " (least of 3)", cpu.Round(time.Millisecond).String(),
			plainCPU.Round(time.Millisecond).String() + " (plain)", fmt.Sprintf("%.0f%%", 100*float64(cpu)/float64(plainCPU)), "", true})
	}
}
