package main

import (
	"context"
	"sync"

	"github.com/coreos/go-systemd/v22/daemon"
)

// serviceReady is called by a mount once the kernel serves it, and by a seed once its data
// is verified. It tells whoever waits for that: the parent of a background mount (daemonReady) and systemd, for a Type=notify
// service (READY=1 on $NOTIFY_SOCKET). Then, when ctx ends (SIGTERM, Ctrl-C), it tells
// systemd STOPPING=1. The mount defers the function it returns, which sends STOPPING=1 if
// that was not sent yet (an unmount from outside) and stops the goroutine that waits on ctx.
func serviceReady(ctx context.Context, log *logSink) (stopped func()) {
	if err := daemonReady(log); err != nil {
		log.Warn("background mount: cannot tell the parent that the mount is ready", "err", err)
	}
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.Warn("cannot tell systemd that the mount is ready", "err", err)
	}
	var once sync.Once
	stopping := func() {
		once.Do(func() {
			if _, err := daemon.SdNotify(false, daemon.SdNotifyStopping); err != nil {
				log.Warn("cannot tell systemd that the mount is stopping", "err", err)
			}
		})
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-ctx.Done():
			stopping()
		case <-done:
		}
	})
	return func() {
		close(done)
		wg.Wait()
		stopping()
	}
}
