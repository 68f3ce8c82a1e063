package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fs"
	"github.com/torrentfs/torrentfs/internal/human"
)

// The status of a mount is served on a unix socket in the torrent's cache directory, which
// the mount holds locked. `torrentfs status MOUNTPOINT` finds the info-hash in the mount's
// source (fs.FsName) and the socket from there.

func statusSocket(cacheDir, ih string) string { return filepath.Join(cacheDir, ih, "status.sock") }

// serveStatus answers each connection to the status socket with t's report and the cache's
// size, until ctx ends.
func serveStatus(ctx context.Context, path string, t *fetch.Torrent, c *cache.Cache, log *slog.Logger) {
	os.Remove(path) // left by a crashed mount; the cache lock says it is ours now
	l, err := net.Listen("unix", path)
	if err != nil {
		log.Warn("no status socket", "err", err)
		return
	}
	go func() { <-ctx.Done(); l.Close() }()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			var b bytes.Buffer
			t.WriteStatus(&b)
			used, limit := c.Usage()
			fmt.Fprintf(&b, "cache:    %s on disk of at most %s, in %s\n", human.Bytes(used), human.Bytes(limit), c.Dir())
			conn.Write(b.Bytes())
			conn.Close()
		}
	}()
}

func newStatusCmd() *cobra.Command {
	var cacheDir cacheDirFlag
	c := &cobra.Command{
		Use:   "status [flags] MOUNTPOINT",
		Short: "Show a mount's peers, transfer and per-file progress",
		Long: `Show the torrent mounted at MOUNTPOINT: how much is cached and evicted, the cache's
size against its limit, peers, transfer totals and per-file progress. Give the same
--cache-dir as the mount if it is not the default.`,
		Args: nArgs(1, 1),
		RunE: func(c *cobra.Command, args []string) error {
			return runStatus(cacheDir.path(), args[0], c.OutOrStdout())
		},
	}
	cacheDir.register(c.Flags())
	return c
}

// runStatus prints the report of the mount at mnt.
func runStatus(cacheDir, mnt string, stdout io.Writer) error {
	ih, err := mountedInfoHash(mnt)
	if err != nil {
		return err
	}
	c, err := net.Dial("unix", statusSocket(cacheDir, ih))
	if err != nil {
		return fmt.Errorf("%s is served by a torrentfs that does not answer in cache %s (mounted with another --cache-dir?): %w", mnt, cacheDir, err)
	}
	defer c.Close()
	_, err = io.Copy(stdout, c)
	return err
}

// mountedInfoHash returns the info-hash of the torrentfs mount at dir, from mountinfo.
func mountedInfoHash(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	prefix := fs.FsName("")
	for _, line := range strings.Split(string(b), "\n") {
		// ID parent major:minor root mountpoint options... - fstype source superoptions
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) < 5 || f[4] != abs || sep < 0 || sep+2 >= len(f) {
			continue
		}
		if src := f[sep+2]; strings.HasPrefix(src, prefix) {
			return strings.TrimPrefix(src, prefix), nil
		}
	}
	return "", errors.New(dir + " is not a torrentfs mount")
}
