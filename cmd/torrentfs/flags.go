package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/torrentfs/torrentfs/fetch"
)

// newFlagSet returns a flag set for a subcommand whose errors go to stderr.
func newFlagSet(name, args string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: torrentfs %s [flags] %s\n\nflags:\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args with flags allowed before, between and after the arguments, and checks
// that there are exactly n arguments (any number if n is negative).
func parse(fs *flag.FlagSet, args []string, n int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if k := len(args) - len(rest); k > 0 && args[k-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if n >= 0 && len(pos) != n {
		fs.Usage()
		return nil, usagef("%s takes %d arguments, got %d", fs.Name(), n, len(pos))
	}
	return pos, nil
}

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// sizeFlag is a byte count written as 512, 64K, 32M, 2G or 1T (powers of 1024).
type sizeFlag int64

func (s *sizeFlag) String() string { return strconv.FormatInt(int64(*s), 10) }

func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	*s = sizeFlag(n)
	return err
}

func parseSize(v string) (int64, error) {
	mult := int64(1)
	num := strings.TrimSuffix(strings.ToUpper(v), "B")
	if i := strings.IndexAny(num, "KMGT"); i >= 0 && i == len(num)-1 {
		mult = 1 << (10 * (strings.IndexByte("KMGT", num[i]) + 1))
		num = num[:i]
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q: want a number with an optional K, M, G or T", v)
	}
	return n * mult, nil
}

// swarmFlags are the flags of every command that joins a swarm.
type swarmFlags struct {
	listen   string
	peers    listFlag
	trackers listFlag
	noDHT    bool
	noUPnP   bool
	noPEX    bool
	utp      bool
	logLevel string
}

func (s *swarmFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.listen, "listen", "", "`host:port` for incoming peer connections (default "+fetch.DefaultListenAddr+", a random port if taken)")
	fs.Var(&s.peers, "peer", "connect to this `host:port` peer (repeatable)")
	fs.Var(&s.trackers, "tracker", "also announce to this tracker `URL` (repeatable)")
	fs.BoolVar(&s.noDHT, "no-dht", false, "do not use the DHT")
	fs.BoolVar(&s.noUPnP, "no-upnp", false, "do not ask the router to forward the port (UPnP/NAT-PMP)")
	fs.BoolVar(&s.noPEX, "no-pex", false, "do not exchange peers with peers (PEX)")
	fs.BoolVar(&s.utp, "utp", false, "also use uTP (slow in this client: see BENCHMARKS.md)")
	fs.StringVar(&s.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
}

// config returns the client config and logger the flags ask for.
func (s *swarmFlags) config(stderr io.Writer) (fetch.Config, *slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s.logLevel)); err != nil {
		return fetch.Config{}, nil, usagef("bad --log-level %q: want debug, info, warn or error", s.logLevel)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	return fetch.Config{
		ListenAddr:       s.listen,
		NoDHT:            s.noDHT,
		NoPortForwarding: s.noUPnP,
		NoPEX:            s.noPEX,
		UTP:              s.utp,
		Logger:           log,
	}, log, nil
}

func (s *swarmFlags) addOptions() fetch.AddOptions {
	return fetch.AddOptions{Peers: s.peers, Trackers: s.trackers}
}
