// Command torrentfs mounts a torrent as a read-only file system and streams its files from
// the swarm on demand. It also creates torrents and seeds local files.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/torrentfs/torrentfs/internal/human"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first Ctrl-C or SIGTERM asks the command to finish; a second one ends the process
	// at once, should finishing hang (an unmount the kernel refuses, a stuck read).
	go func() { <-ctx.Done(); stop() }()
	if path := os.Getenv("TORRENTFS_CPUPROFILE"); path != "" {
		// For developers: a CPU profile of the whole run, written on exit.
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	if path := os.Getenv("TORRENTFS_MEMPROFILE"); path != "" {
		// For developers: a profile of every allocation of the run, written on exit.
		runtime.MemProfileRate = 64 << 10
		defer func() {
			if f, err := os.Create(path); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var ue usageError
	var es exitStatus
	switch {
	case err == nil:
	case errors.Is(err, errReported):
		os.Exit(1)
	case errors.As(err, &es): // a background mount's child printed why
		os.Exit(int(es))
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "torrentfs: %s\n", lines(err.Error()))
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "torrentfs: %s\n", lines(err.Error()))
		os.Exit(1)
	}
}

// lines escapes what a terminal would act on in an error message, line by line: a torrent's
// name may hold anything, but a wrapped program's output has real line breaks.
func lines(s string) string {
	ls := strings.Split(s, "\n")
	for i, l := range ls {
		ls[i] = human.Text(l)
	}
	return strings.Join(ls, "\n")
}

// usageError is a mistake in the command line; it exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// run runs the command line args; it returns when the command is done or ctx is cancelled.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCmd(stdout, stderr)
	if args == nil {
		args = []string{} // not cobra's default, os.Args
	}
	if isBackgroundMount(root, args) { // torrentfs SOURCE MOUNTPOINT -o …: daemon.go
		return runBackground(ctx, args, stderr)
	}
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}
