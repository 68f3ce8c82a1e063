package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/fetch"
)

// sizeFlag is a byte count written as 512, 64K, 32M, 2G or 1T (powers of 1024).
type sizeFlag int64

func (s *sizeFlag) Type() string { return "size" }

// String writes the size as people write it: 32M rather than 33554432.
func (s *sizeFlag) String() string {
	n := int64(*s)
	for i := 4; i > 0; i-- {
		if unit := int64(1) << (10 * i); n != 0 && n%unit == 0 {
			return strconv.FormatInt(n/unit, 10) + "KMGT"[i-1:i]
		}
	}
	return strconv.FormatInt(n, 10)
}

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
		return 0, errors.New("bad size: want a number with an optional K, M, G or T, e.g. 32M")
	}
	return n * mult, nil
}

// durationFlag is a time.Duration that says what is wrong with a number without a unit.
type durationFlag time.Duration

func (d *durationFlag) Type() string { return "duration" }

// String writes 1m rather than 1m0s.
func (d *durationFlag) String() string {
	s := time.Duration(*d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (d *durationFlag) Set(v string) error {
	t, err := time.ParseDuration(v)
	if err != nil {
		if _, nerr := strconv.ParseFloat(v, 64); nerr == nil {
			return fmt.Errorf("a duration needs a unit, e.g. %ss or 2m", v)
		}
		return errors.New("want a duration such as 30s, 2m or 1h30m")
	}
	*d = durationFlag(t)
	return nil
}

// cacheDirFlag is --cache-dir; empty means the default, which depends on the user.
type cacheDirFlag string

func (d *cacheDirFlag) register(fs *pflag.FlagSet) {
	fs.StringVar((*string)(d), "cache-dir", "", "`dir`ectory of the piece cache, which must belong to you (default $XDG_CACHE_HOME/torrentfs, else ~/.cache/torrentfs)")
	cobra.MarkFlagDirname(fs, "cache-dir")
}

// dir returns the cache directory: --cache-dir, else the user's cache directory, else, with
// neither $XDG_CACHE_HOME nor $HOME, torrentfs-cache-UID in the temporary directory. It
// refuses a directory that belongs to another user, and in the temporary directory, where
// anyone may have made that name first, a symlink.
func (d cacheDirFlag) dir() (string, error) {
	if d != "" {
		return checkCacheDir(string(d))
	}
	if dir, err := os.UserCacheDir(); err == nil {
		return checkCacheDir(filepath.Join(dir, "torrentfs"))
	} else if os.Getenv("XDG_CACHE_HOME") != "" || os.Getenv("HOME") != "" {
		// Set but unusable (a relative $XDG_CACHE_HOME): say so, rather than cache elsewhere.
		return "", fmt.Errorf("cache dir: %w: make it an absolute path or use --cache-dir", err)
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("torrentfs-cache-%d", os.Geteuid()))
	// Made here, alone, so that what is there can be checked: cache.Open follows symlinks.
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("cache dir: %w", err)
	}
	st, err := os.Lstat(dir)
	switch {
	case err != nil:
		return "", fmt.Errorf("cache dir: %w", err)
	case st.Mode()&os.ModeSymlink != 0:
		return "", fmt.Errorf("cache dir %s is a symlink: remove it or use --cache-dir", dir)
	case !st.IsDir():
		return "", fmt.Errorf("cache dir %s is not a directory: remove it or use --cache-dir", dir)
	}
	return checkCacheDir(dir)
}

// checkCacheDir returns dir, or an error if it exists and belongs to another user or others
// may write in it.
func checkCacheDir(dir string) (string, error) {
	if err := cache.CheckDir(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", cacheDirAdvice(err)
	}
	return dir, nil
}

// cacheDirAdvice adds what to do to the error of a cache directory of another user's, or
// one that others may write in.
func cacheDirAdvice(err error) error {
	if _, ok := errors.AsType[*cache.OwnerError](err); ok {
		return fmt.Errorf("%w: remove it or use --cache-dir", err)
	}
	if _, ok := errors.AsType[*cache.ModeError](err); ok {
		return fmt.Errorf("%w: chmod 700 it or use --cache-dir", err)
	}
	return err
}

// swarmFlags are the flags of every command that joins a swarm.
type swarmFlags struct {
	listen   string
	peers    []string
	trackers []string
	noDHT    bool
	dhtBoot  []string
	noUPnP   bool
	noPEX    bool
	utp      bool
	encrypt  string
	// maxDown and maxUp cap the peers' rates, in bytes per second; proxy is a SOCKS5 URL.
	maxDown, maxUp sizeFlag
	proxy          string
	bindInterface  string
	logFlags
}

func (s *swarmFlags) register(c *cobra.Command) {
	fs := c.Flags()
	fs.StringVar(&s.listen, "listen", "", "`host:port` for incoming peer connections (default "+fetch.DefaultListenAddr+", a random port if taken)")
	fs.StringArrayVar(&s.peers, "peer", nil, "connect to this `host:port` peer (repeatable)")
	trackerFlag(fs, &s.trackers, "also announce to this tracker `URL` (repeatable)")
	fs.BoolVar(&s.noDHT, "no-dht", false, "do not use the DHT")
	fs.StringArrayVar(&s.dhtBoot, "dht-bootstrap", nil, "join the DHT through this `host:port` node instead of the public routers (repeatable)")
	fs.BoolVar(&s.noUPnP, "no-upnp", false, "do not ask the router to forward the port (UPnP/NAT-PMP)")
	fs.BoolVar(&s.noPEX, "no-pex", false, "do not exchange peers with peers (PEX)")
	fs.BoolVar(&s.utp, "utp", false, "also use uTP (slow in this client: see BENCHMARKS.md)")
	fs.StringVar(&s.encrypt, "encryption", fetch.EncryptionAllow.String(), "peer connection encryption, a `mode`: allow (plain handshake first, encrypted if refused), prefer (encrypted handshake first) or require (encrypted only, the whole stream)")
	fs.Var(&s.maxDown, "max-download-rate", "most `bytes` per second received from peers, over all torrents, e.g. 10M (default: no limit)")
	fs.Var(&s.maxUp, "max-upload-rate", "most `bytes` per second sent to peers, e.g. 500K (default: no limit)")
	fs.StringVar(&s.proxy, "proxy", "", "send peer connections, HTTP trackers and web seeds through this SOCKS5 `URL` (socks5://[user:pass@]host:port); the DHT, uTP and UDP trackers are then off")
	fs.StringVar(&s.bindInterface, "bind-interface", "", "send everything (peers, trackers, DHT, web seeds) through this network `interface` only, e.g. a VPN's wg0: nothing leaves when it is down (Linux; uTP off)")
	c.RegisterFlagCompletionFunc("encryption", cobra.FixedCompletions([]string{"allow", "prefer", "require"}, cobra.ShellCompDirectiveNoFileComp))
	s.logFlags.register(c)
}

// trackerFlag registers --tracker (-t), the same in every command that takes trackers.
func trackerFlag(fs *pflag.FlagSet, p *[]string, usage string) {
	fs.StringArrayVarP(p, "tracker", "t", nil, usage)
}

// config returns the client config and the log the flags ask for; the caller closes the log.
func (s *swarmFlags) config(stderr io.Writer) (fetch.Config, *logSink, error) {
	enc, err := fetch.ParseEncryption(s.encrypt)
	if err != nil {
		return fetch.Config{}, nil, usageError{err.Error()}
	}
	if err := s.checkDHT(); err != nil {
		return fetch.Config{}, nil, err
	}
	var proxy *url.URL
	if s.proxy != "" {
		u, err := url.Parse(s.proxy)
		if err != nil || (u.Scheme != "socks5" && u.Scheme != "socks5h") || u.Host == "" {
			shown := "" // never the password
			if err == nil {
				shown = " " + strconv.Quote(u.Redacted())
			}
			return fetch.Config{}, nil, usagef("--proxy%s: want socks5://HOST:PORT, with USER:PASSWORD@ before HOST if the proxy asks for them", shown)
		}
		proxy = u
	}
	log, err := s.logFlags.open(stderr)
	if err != nil {
		return fetch.Config{}, nil, err
	}
	return fetch.Config{
		DHTBootstrap:     s.dhtBoot,
		MaxDownloadRate:  int64(s.maxDown),
		MaxUploadRate:    int64(s.maxUp),
		Proxy:            proxy,
		BindInterface:    s.bindInterface,
		Encryption:       enc,
		ListenAddr:       s.listen,
		NoDHT:            s.noDHT,
		NoPortForwarding: s.noUPnP,
		NoPEX:            s.noPEX,
		UTP:              s.utp,
		Logger:           log.Logger,
	}, log, nil
}

// checkDHT checks --dht-bootstrap: host:port addresses, and the DHT on.
func (s *swarmFlags) checkDHT() error {
	if len(s.dhtBoot) > 0 && s.noDHT {
		return usagef("--dht-bootstrap with --no-dht: the DHT is off")
	}
	if len(s.dhtBoot) > 0 && s.proxy != "" {
		return usagef("--dht-bootstrap with --proxy: the DHT is off under a SOCKS5 proxy, which carries no UDP")
	}
	if s.utp && (s.proxy != "" || s.bindInterface != "") {
		return usagef("--utp with --proxy or --bind-interface: uTP's sockets can go through neither")
	}
	for _, a := range s.dhtBoot {
		_, port, err := net.SplitHostPort(a)
		if err == nil {
			if n, perr := strconv.Atoi(port); perr != nil || n <= 0 || n > 65535 {
				err = fmt.Errorf("bad port %q", port)
			}
		}
		if err != nil {
			return usagef("--dht-bootstrap %s: want host:port: %v", a, err)
		}
	}
	return nil
}

func (s *swarmFlags) addOptions() fetch.AddOptions {
	return fetch.AddOptions{Peers: s.peers, Trackers: s.trackers}
}
