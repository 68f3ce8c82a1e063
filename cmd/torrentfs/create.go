package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/torrentfs/torrentfs/author"
	"github.com/torrentfs/torrentfs/internal/human"
)

// createFlags are the flags of create.
type createFlags struct {
	trackers []string
	webSeeds []string
	out      string
	pieceLen sizeFlag
	private  bool
	comment  string
	force    bool
}

func newCreateCmd() *cobra.Command {
	var f createFlags
	c := &cobra.Command{
		Use:   "create [flags] PATH",
		Short: "Make a .torrent of a file or directory",
		Long: `Make a .torrent of the file or directory at PATH and print its info-hash and the file
written. A symlink to a file is shared as that file; FIFOs, sockets, devices, dangling
symlinks and symlinks to directories are left out, each named on stderr.`,
		Example: "  torrentfs create -t http://tracker.example/announce -o sample.torrent sample/\n  torrentfs create --web-seed https://mirror.example/pub/ -o sample.torrent sample/",
		Args:    nArgs(1, 1),
		RunE: func(c *cobra.Command, args []string) error {
			return runCreate(c.Context(), &f, args[0], c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	fl := c.Flags()
	trackerFlag(fl, &f.trackers, "tracker announce `URL` (repeatable)")
	fl.StringArrayVar(&f.webSeeds, "web-seed", nil, "web seed `URL` (BEP 19 url-list; repeatable): an HTTP server with the data")
	fl.StringVarP(&f.out, "output", "o", "", "write the torrent to `file` (default NAME.torrent)")
	fl.Var(&f.pieceLen, "piece-length", "piece `size`, a power of two such as 256K (default: from the data's size)")
	fl.BoolVar(&f.private, "private", false, "mark the torrent private (no DHT or PEX)")
	fl.StringVar(&f.comment, "comment", "", "comment `text`")
	fl.BoolVarP(&f.force, "force", "f", false, "overwrite the output file")
	c.MarkFlagFilename("output", "torrent")
	return c
}

func runCreate(ctx context.Context, f *createFlags, path string, stdout, stderr io.Writer) error {
	mi, err := author.Create(ctx, path, author.CreateOptions{
		Trackers:    f.trackers,
		WebSeeds:    f.webSeeds,
		PieceLength: int64(f.pieceLen),
		Private:     f.private,
		Comment:     f.comment,
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
	out := f.out
	if out == "" {
		info, err := mi.UnmarshalInfo()
		if err != nil {
			return err
		}
		out = info.Name + ".torrent"
	}
	mode := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if f.force {
		mode = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	w, err := os.OpenFile(out, mode, 0o644)
	if os.IsExist(err) {
		return fmt.Errorf("%s exists: use -f to overwrite", out)
	}
	if err != nil {
		return err
	}
	if err := mi.Write(w); err != nil {
		w.Close()
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	fmt.Fprintf(stdout, "%s %s\n", mi.HashInfoBytes().HexString(), out)
	return nil
}
