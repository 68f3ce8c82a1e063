// Command torrentfs mounts a torrent as a read-only file system and streams its files from
// the swarm on demand. It also creates torrents and seeds local files.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

const usage = `usage: torrentfs <command> [flags] [arguments]

commands:
  mount SOURCE MOUNTPOINT   mount a .torrent file or magnet link; Ctrl-C unmounts
  create PATH               make a .torrent of a file or directory
  seed TORRENT PATH         share local files until Ctrl-C
  status MOUNTPOINT         show a mount's peers, transfer and per-file progress
  cache ls                  list the torrents in the cache
  cache rm TORRENT...       remove torrents (info-hash or name) from the cache
  cache verify [TORRENT...] rehash cached pieces and drop those that fail

Run 'torrentfs <command> -h' for a command's flags.
`

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
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var ue usageError
	switch {
	case err == nil:
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "torrentfs: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "torrentfs: %v\n", err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line; it exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// run runs the command line args; it returns when the command is done or ctx is cancelled.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command")
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"mount":  runMount,
		"create": runCreate,
		"seed":   runSeed,
		"status": runStatus,
		"cache":  runCache,
	}
	switch cmd := args[0]; cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		f, ok := cmds[cmd]
		if !ok {
			fmt.Fprint(stderr, usage)
			return usagef("unknown command %q", cmd)
		}
		err := f(ctx, args[1:], stdout, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
}
