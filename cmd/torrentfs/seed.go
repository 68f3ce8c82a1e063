package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/torrentfs/torrentfs/author"
	"github.com/torrentfs/torrentfs/fetch"
)

func newSeedCmd() *cobra.Command {
	var f swarmFlags
	c := &cobra.Command{
		Use:   "seed [flags] TORRENT PATH",
		Short: "Share local files until Ctrl-C",
		Long: `Share the data of TORRENT found at PATH, a file or a directory, until Ctrl-C. The
local data is verified first; only what matches is shared.`,
		Args: nArgs(2, 2),
		RunE: func(c *cobra.Command, args []string) error {
			return runSeed(c.Context(), &f, args[0], args[1], c.ErrOrStderr())
		},
	}
	f.register(c)
	return c
}

func runSeed(ctx context.Context, f *swarmFlags, torrentPath, path string, stderr io.Writer) error {
	cfg, log, err := f.config(stderr)
	if err != nil {
		return err
	}
	defer log.Close()
	_, info, err := fetch.LoadTorrentFile(torrentPath)
	if err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() != info.IsDir() {
		kind := map[bool]string{true: "a directory", false: "a single file"}
		return fmt.Errorf("%s is %s but %s is %s", torrentPath, kind[info.IsDir()], path, kind[st.IsDir()])
	}
	cfg.Storage, err = author.NewLocalStorage(path)
	if err != nil {
		return err
	}
	cl, err := fetch.New(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	t, err := cl.Add(ctx, torrentPath, f.addOptions())
	if err != nil {
		return err
	}
	log.Info("verifying local data", "torrent", t.Name(), "path", path)
	if err := t.Verify(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("verify %s: %w", path, err)
	}
	have := t.BytesCompleted()
	if have == 0 && t.Length() > 0 {
		return fmt.Errorf("none of the data at %s matches %s", path, torrentPath)
	}
	if have < t.Length() {
		log.Warn("seeding only the data that matches", "verified", have, "total", t.Length())
	}
	log.Info("seeding", "torrent", t.Name(), "infohash", t.InfoHash(), "port", cl.Port())
	// Ready once the local data is verified: READY=1 for a Type=notify service, as a mount.
	notified := serviceReady(ctx, log)
	defer notified()
	<-ctx.Done()
	return nil
}
