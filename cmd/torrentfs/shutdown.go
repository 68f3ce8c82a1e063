package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/torrentfs/torrentfs/fs"
)

// shutdownBound is how long a mount asked to stop may take to end, whatever it waits for.
const shutdownBound = 10 * time.Second

// shutdown bounds a mount's way out. Once armed (Ctrl-C, SIGTERM, an unmount from outside),
// the mount has shutdownBound to end; past that, the watchdog logs the step it was at and
// every goroutine's stack, detaches the mount point (so that it is not left as "transport
// endpoint is not connected") and ends the process with exit status 1. Each step of the
// way out names itself with at, so that the log says what hung.
type shutdown struct {
	// Immutable after newShutdown.
	log   *slog.Logger
	w     io.Writer // where the goroutine stacks go: the log's writer
	mnt   string
	bound time.Duration

	step    atomic.Pointer[string]
	armOnce sync.Once
	stopped chan struct{} // closed by stop
	wg      sync.WaitGroup
}

func newShutdown(log *slog.Logger, w io.Writer, mnt string) *shutdown {
	return &shutdown{log: log, w: w, mnt: mnt, bound: shutdownBound, stopped: make(chan struct{})}
}

// at names the step the mount's way out is at now.
func (s *shutdown) at(step string) {
	s.step.Store(&step)
	s.log.Debug("stopping", "step", step)
}

// arm starts the clock; later calls do nothing.
func (s *shutdown) arm() {
	s.armOnce.Do(func() {
		s.wg.Go(func() {
			t := time.NewTimer(s.bound)
			defer t.Stop()
			select {
			case <-t.C:
				s.expire()
			case <-s.stopped:
			}
		})
	})
}

// stop disarms the watchdog: the mount ended in time.
func (s *shutdown) stop() {
	close(s.stopped)
	s.wg.Wait()
}

// expire ends a mount whose way out hung.
func (s *shutdown) expire() {
	step := "?"
	if p := s.step.Load(); p != nil {
		step = *p
	}
	s.log.Error("stopping hung; detaching the mount point and exiting", "waiting_for", step, "after", s.bound)
	fmt.Fprintf(s.w, "goroutines of the hung mount, waiting for %s:\n", step)
	pprof.Lookup("goroutine").WriteTo(s.w, 2)
	if err := fs.Detach(s.mnt); err != nil {
		s.log.Error("cannot detach the mount point", "mountpoint", s.mnt, "err", err)
	}
	os.Exit(1)
}
