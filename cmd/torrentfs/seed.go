package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/torrentfs/torrentfs/fetch"
)

func runSeed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("seed", "TORRENT PATH", stderr)
	var sw swarmFlags
	sw.register(flags)
	pos, err := parse(flags, args, 2)
	if err != nil {
		return err
	}
	torrentPath, path := pos[0], pos[1]
	cfg, log, err := sw.config(stderr)
	if err != nil {
		return err
	}
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
	cfg.Storage, err = fetch.NewLocalStorage(path)
	if err != nil {
		return err
	}
	cl, err := fetch.New(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	t, err := cl.Add(ctx, torrentPath, sw.addOptions())
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
	<-ctx.Done()
	return nil
}
