package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

// logFlags choose how much a command logs, in what format and where.
type logFlags struct {
	level   string
	format  string
	file    string
	quiet   bool // -q: warnings and errors only, and no live status line
	verbose bool // -v: the debug log
}

func (l *logFlags) register(c *cobra.Command) {
	fs := c.Flags()
	fs.StringVar(&l.level, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&l.format, "log-format", "auto", "log `format`: text (for people), logfmt (key=value), json, or auto: text on a terminal, else logfmt")
	fs.StringVar(&l.file, "log-file", "", "append the log to `file` instead of writing it to stderr (a new file is made mode 0600)")
	fs.BoolVarP(&l.quiet, "quiet", "q", false, "log only warnings and errors (--log-level warn), and keep no status line on the terminal")
	fs.BoolVarP(&l.verbose, "verbose", "v", false, "log everything (--log-level debug)")
	c.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	c.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"auto", "text", "logfmt", "json"}, cobra.ShellCompDirectiveNoFileComp))
}

// logSink is a command's log, on stderr or in the --log-file.
type logSink struct {
	*slog.Logger
	w    io.Writer // where records go, for reports that are not records (kill -USR1)
	file *os.File  // the --log-file, or nil
	// live keeps a status line under the records, on a terminal unless -q; else nil.
	live *liveLine
}

// Close closes the --log-file, if any.
func (l *logSink) Close() error {
	if l.file == nil {
		return nil
	}
	return l.file.Close()
}

// open returns the log the flags ask for.
func (l *logFlags) open(stderr io.Writer) (*logSink, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return nil, usagef("bad --log-level %q: want debug, info, warn or error", l.level)
	}
	switch {
	case l.quiet && l.verbose:
		return nil, usagef("-q and -v contradict each other: give one")
	case l.quiet:
		level = max(level, slog.LevelWarn)
	case l.verbose:
		level = slog.LevelDebug
	}
	format := l.format
	switch format {
	case "auto", "text", "logfmt", "json":
	default:
		return nil, usagef("bad --log-format %q: want text, logfmt, json or auto", format)
	}
	sink := &logSink{w: stderr}
	if l.file != "" {
		// The log names torrents, paths and peers: a new file is its user's alone. A file
		// that exists keeps its mode, which its owner chose.
		f, err := os.OpenFile(l.file, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("--log-file: %w", err)
		}
		sink.w, sink.file = f, f
	}
	f, ok := sink.w.(*os.File)
	terminal := ok && isatty.IsTerminal(f.Fd())
	if format == "auto" {
		// Scripts and the tests read key=value lines; only a terminal gets the short form.
		format = "logfmt"
		if terminal {
			format = "text"
		}
	}
	if terminal && !l.quiet && os.Getenv("TERM") != "dumb" {
		sink.live = &liveLine{w: f}
		sink.w = sink.live
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "json":
		sink.Logger = slog.New(slog.NewJSONHandler(sink.w, opts))
	case "logfmt":
		sink.Logger = slog.New(slog.NewTextHandler(sink.w, opts))
	default:
		sink.Logger = slog.New(newHumanHandler(sink.w, level))
	}
	return sink, nil
}

// humanHandler writes a record as one short line for people: "15:04:05 INFO  mounted
// torrent=x port=42069". A TextHandler, told to leave out the time, level and message,
// formats the attributes into a buffer that the handlers derived by WithAttrs and WithGroup
// share under one lock.
type humanHandler struct {
	out   *humanOut
	attrs slog.Handler
}

type humanOut struct {
	mu  sync.Mutex
	w   io.Writer
	buf bytes.Buffer
}

func newHumanHandler(w io.Writer, level slog.Leveler) *humanHandler {
	out := &humanOut{w: w}
	return &humanHandler{out: out, attrs: slog.NewTextHandler(&out.buf, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
				return slog.Attr{}
			}
			return a
		},
	})}
}

func (h *humanHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.attrs.Enabled(ctx, l)
}

func (h *humanHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &humanHandler{h.out, h.attrs.WithAttrs(as)}
}

func (h *humanHandler) WithGroup(name string) slog.Handler {
	return &humanHandler{h.out, h.attrs.WithGroup(name)}
}

func (h *humanHandler) Handle(ctx context.Context, r slog.Record) error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	b := &h.out.buf
	b.Reset()
	fmt.Fprintf(b, "%s %-5s %s ", r.Time.Format(time.TimeOnly), r.Level, r.Message)
	n := b.Len()
	if err := h.attrs.Handle(ctx, r); err != nil { // appends "key=value ...\n", or "\n"
		return err
	}
	if b.Len() == n+1 {
		b.Truncate(n - 1) // no attributes: drop the space
		b.WriteByte('\n')
	}
	_, err := h.out.w.Write(b.Bytes())
	return err
}
