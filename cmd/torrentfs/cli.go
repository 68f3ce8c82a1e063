package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

// newRootCmd returns the command tree, writing to stdout and stderr. Errors are returned,
// not printed: main prints them in one line and exits 2 for a usageError, 1 for any other.
func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "torrentfs",
		Short: "Mount torrents as a read-only file system",
		Long: `torrentfs mounts a torrent as a read-only file system and streams its files
from the swarm on demand, keeping verified pieces in a cache. It also creates
torrents and seeds local files.

Ctrl-C (or SIGTERM) asks any command to finish; a second Ctrl-C ends it at once.`,
		Version:                    version(),
		Args:                       unknownCommand,
		SilenceErrors:              true,
		SilenceUsage:               true,
		DisableAutoGenTag:          true,
		SuggestionsMinimumDistance: 2,
		RunE: func(c *cobra.Command, args []string) error {
			fmt.Fprint(c.ErrOrStderr(), c.UsageString())
			return usagef("no command")
		},
	}
	root.SetVersionTemplate("torrentfs {{.Version}}\n")
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(newMountCmd(), newServeCmd(), newAddCmd(), newRemoveCmd(), newLsCmd(), newCreateCmd(), newSeedCmd(), newStatusCmd(), newCacheCmd(),
		newVersionCmd(), newGenManCmd())
	root.SetOut(stdout)
	root.SetErr(stderr)
	// cobra's completion command, made now (after SetOut, which it keeps) rather than on
	// Execute, so that its shell commands check their arguments as ours do.
	root.InitDefaultCompletionCmd()
	if c, _, err := root.Find([]string{"completion"}); err == nil {
		for _, sh := range c.Commands() {
			sh.Args = nArgs(0, 0)
		}
	}
	return root
}

// unknownCommand answers the root's arguments, which can only be a mistyped command.
func unknownCommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		return usagef("unknown command %q: did you mean %q? See 'torrentfs --help'", args[0], s[0])
	}
	return usagef("unknown command %q; see 'torrentfs --help'", args[0])
}

// flagError makes a flag parsing error a one-line usageError.
func flagError(c *cobra.Command, err error) error {
	var notExist *pflag.NotExistError
	var invalid *pflag.InvalidValueError
	msg := err.Error()
	switch {
	case errors.As(err, &notExist) && notExist.GetSpecifiedShortnames() != "":
		msg = "flag provided but not defined: -" + notExist.GetSpecifiedName()
		if len(notExist.GetSpecifiedShortnames()) > 1 { // -help, -cache-dir
			msg += " (long flags take two dashes)"
		}
	case errors.As(err, &notExist):
		msg = "flag provided but not defined: --" + notExist.GetSpecifiedName()
	case errors.As(err, &invalid):
		msg = fmt.Sprintf("invalid argument %q for \"--%s\": %v", invalid.GetValue(), invalid.GetFlag().Name, errors.Unwrap(invalid))
	}
	return usagef("%s; see '%s --help'", msg, c.CommandPath())
}

// nArgs checks that a command has at least min and at most max arguments (any number if
// max < 0); the error names them as the command's Use line does.
func nArgs(min, max int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) >= min && (max < 0 || len(args) <= max) {
			return nil
		}
		var names []string
		for _, f := range strings.Fields(c.Use)[1:] {
			if f != "[flags]" && !strings.HasPrefix(f, "[-") {
				names = append(names, f)
			}
		}
		want := "no arguments"
		switch {
		case min == max && min > 0:
			want = plural(min, "argument") + " (" + strings.Join(names, " ") + ")"
		case max > 0 && len(args) > max:
			want = "at most " + plural(max, "argument") + " (" + strings.Join(names, " ") + ")"
		case min != max:
			want = "at least " + plural(min, "argument") + " (" + strings.Join(names, " ") + ")"
		}
		name := strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
		return usagef("%s takes %s, got %d; see '%s --help'", name, want, len(args), c.CommandPath())
	}
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// version returns the version, commit and Go version this binary was built from.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown version)"
	}
	return versionOf(bi)
}

func versionOf(bi *debug.BuildInfo) string {
	rev, dirty := "unknown", ""
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	return fmt.Sprintf("%s, commit %s%s, %s", bi.Main.Version, rev, dirty, bi.GoVersion)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version",
		Args:  nArgs(0, 0),
		Run: func(c *cobra.Command, args []string) {
			fmt.Fprintf(c.OutOrStdout(), "torrentfs %s\n", version())
		},
	}
}

// newGenManCmd writes the man pages of the command tree; `make man` runs it.
func newGenManCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "gen-man DIR",
		Short:  "Write the man pages to DIR",
		Hidden: true,
		Args:   nArgs(1, 1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			return doc.GenManTree(c.Root(), &doc.GenManHeader{Section: "1", Source: "torrentfs"}, args[0])
		},
	}
}
