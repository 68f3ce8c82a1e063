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

	step atomic.Pointer[string]

	mu      sync.Mutex    // guards armed and stopped, so that no arm starts once stop waits
	armed   bool          // the watchdog runs
	stopped chan struct{} // closed by stop
	wg      sync.WaitGroup
}

func newShutdown(log *slog.Logger, w io.Writer, mnt string) *shutdown {
	s := &shutdown{log: log, w: w, mnt: mnt, bound: shutdownBound, stopped: make(chan struct{})}
	first := "the mount to act on the signal (it may be starting)"
	s.step.Store(&first)
	return s
}

// at names the step the mount's way out is at now.
func (s *shutdown) at(step string) {
	s.step.Store(&step)
	s.log.Debug("stopping", "step", step)
}

// arm starts the clock; later calls, and calls after stop, do nothing.
func (s *shutdown) arm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.stopped:
		return
	default:
	}
	if s.armed {
		return
	}
	s.armed = true
	s.wg.Go(func() {
		t := time.NewTimer(s.bound)
		defer t.Stop()
		select {
		case <-t.C:
			s.expire()
		case <-s.stopped:
		}
	})
}

// stop disarms the watchdog: the mount ended in time.
func (s *shutdown) stop() {
	s.mu.Lock()
	close(s.stopped)
	s.mu.Unlock()
	s.wg.Wait()
}

// expire ends a mount whose way out hung. The mount point is detached first, then the
// report written, both with a bound of their own, so that neither a detach that hangs
// (fusermount3 is another program) nor a log that cannot be written (a full pipe) holds
// the exit.
func (s *shutdown) expire() {
	step := *s.step.Load()
	written := make(chan struct{})
	go func() { // not waited for: the process ends below
		defer close(written)
		var detachErr error
		if s.mnt != "" { // serve has no mount point
			detachErr = fs.Detach(s.mnt)
		}
		s.log.Error("stopping hung; detached the mount point, exiting", "waiting_for", step, "after", s.bound)
		if detachErr != nil {
			s.log.Error("cannot detach the mount point", "mountpoint", s.mnt, "err", detachErr)
		}
		fmt.Fprintf(s.w, "goroutines of the hung mount, waiting for %s:\n", step)
		pprof.Lookup("goroutine").WriteTo(s.w, 2)
	}()
	select {
	case <-written:
	case <-time.After(reportWait):
	}
	os.Exit(1)
}

// reportWait bounds the detach and the writing of a hung mount's report.
const reportWait = 3 * time.Second
