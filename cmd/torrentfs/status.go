package main

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"
)

func newStatusCmd() *cobra.Command {
	var cacheDir cacheDirFlag
	c := &cobra.Command{
		Use:   "status MOUNTPOINT",
		Short: "Show a mount's torrents, peers, transfer and per-file progress",
		Long: `Show the torrents mounted at MOUNTPOINT: how much is cached and evicted, peers,
transfer totals and per-file progress, then the cache's size against its limit.`,
		Args: nArgs(1, 1),
		RunE: func(c *cobra.Command, args []string) error {
			return runStatus(c.Context(), args[0], c.OutOrStdout())
		},
	}
	// Before mounts answered on their own socket, status needed the mount's cache.
	cacheDir.register(c.Flags())
	c.Flags().MarkHidden("cache-dir")
	return c
}

// runStatus prints the report of the mount at mnt.
func runStatus(ctx context.Context, mnt string, stdout io.Writer) error {
	ctl, err := dialControl(mnt)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://torrentfs/status", nil)
	if err != nil {
		return err
	}
	resp, err := ctl.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: the torrentfs serving it does not answer: %w", mnt, err)
	}
	defer resp.Body.Close()
	_, err = io.Copy(stdout, resp.Body)
	return err
}
