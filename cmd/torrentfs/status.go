package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/spf13/cobra"

	"github.com/torrentfs/torrentfs/status"
)

func newStatusCmd() *cobra.Command {
	var cacheDir cacheDirFlag
	var asJSON bool
	c := &cobra.Command{
		Use:   "status [--json] [MOUNTPOINT|@NAME]",
		Short: "Show a mount's torrents, peers, transfer and per-file progress",
		Long: `Show the torrents mounted at MOUNTPOINT (or served by 'torrentfs serve --name NAME',
given as @NAME), or at every torrentfs mount and serve instance of yours: how
much is cached and evicted, peers, transfer totals and per-file progress, then the
cache's size against its limit. --json prints each mount's torrents as JSON.`,
		Args: nArgs(0, 1),
		RunE: func(c *cobra.Command, args []string) error {
			mnts := args
			if len(mnts) == 0 {
				var err error
				if mnts, err = ourMounts(); err != nil {
					return err
				}
				mnts = append(mnts, ourServes()...)
			}
			if asJSON {
				return statusJSON(c.Context(), mnts, c.OutOrStdout())
			}
			if len(mnts) == 0 {
				fmt.Fprintln(c.OutOrStdout(), "no torrentfs mount or serve of yours is running")
				return nil
			}
			for i, mnt := range mnts {
				if len(args) == 0 {
					if i > 0 {
						fmt.Fprintln(c.OutOrStdout())
					}
					fmt.Fprintf(c.OutOrStdout(), "== %s\n", mnt)
				}
				if err := runStatus(c.Context(), mnt, c.OutOrStdout()); err != nil {
					return err
				}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print each mount's torrents as JSON")
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
	var r status.Report
	if err := ctl.do(ctx, http.MethodGet, "/status", nil, &r); err != nil {
		return err
	}
	writeReport(stdout, r, colourful(stdout))
	return nil
}

// mountStatus is one mount in status --json.
type mountStatus struct {
	Mountpoint string `json:"mountpoint"`
	status.Report
}

// statusJSON prints the report of each mount as JSON.
func statusJSON(ctx context.Context, mnts []string, stdout io.Writer) error {
	out := []mountStatus{}
	for _, mnt := range mnts {
		ctl, err := dialControl(mnt)
		if err != nil {
			return err
		}
		ms := mountStatus{Mountpoint: mnt}
		if err := ctl.do(ctx, http.MethodGet, "/status", nil, &ms.Report); err != nil {
			return err
		}
		out = append(out, ms)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// ourMounts lists the torrentfs mounts that answer on this user's control sockets.
func ourMounts() ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var mnts []string
	for _, m := range torrentfsMounts(string(b)) {
		if _, err := os.Stat(controlSocket(m.id)); err == nil {
			mnts = append(mnts, m.dir)
		}
	}
	return mnts, nil
}
