package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/internal/human"
)

func runCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("create", "PATH", stderr)
	var trackers listFlag
	flags.Var(&trackers, "t", "tracker announce `URL` (repeatable)")
	out := flags.String("o", "", "write the torrent to `file` (default: NAME.torrent)")
	var pieceLen sizeFlag
	flags.Var(&pieceLen, "piece-length", "piece `size`, a power of two such as 256K (default: from the data's size)")
	private := flags.Bool("private", false, "mark the torrent private (no DHT or PEX)")
	comment := flags.String("comment", "", "comment `text`")
	force := flags.Bool("f", false, "overwrite the output file")
	pos, err := parse(flags, args, 1)
	if err != nil {
		return err
	}
	path := pos[0]
	mi, err := fetch.Create(ctx, path, fetch.CreateOptions{
		Trackers:    trackers,
		PieceLength: int64(pieceLen),
		Private:     *private,
		Comment:     *comment,
		LeftOut: func(path, why string) {
			fmt.Fprintf(stderr, "torrentfs: left out %s (%s)\n", path, why)
		},
		Hashing: func(files int, bytes int64) {
			noun := "files"
			if files == 1 {
				noun = "file"
			}
			fmt.Fprintf(stderr, "torrentfs: hashing %d %s, %s\n", files, noun, human.Bytes(bytes))
		},
	})
	if err != nil {
		return err
	}
	if *out == "" {
		info, err := mi.UnmarshalInfo()
		if err != nil {
			return err
		}
		*out = info.Name + ".torrent"
	}
	mode := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		mode = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(*out, mode, 0o644)
	if os.IsExist(err) {
		return fmt.Errorf("%s exists: use -f to overwrite", *out)
	}
	if err != nil {
		return err
	}
	if err := mi.Write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", *out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	fmt.Fprintf(stdout, "%s %s\n", mi.HashInfoBytes().HexString(), *out)
	return nil
}
