package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/torrentfs/torrentfs/engine"
	"github.com/torrentfs/torrentfs/web"
)

// httpFlags are mount's --http flags: the web server (package web) of the mount.
type httpFlags struct {
	addr        string
	auth        string
	authFile    string
	hosts       []string
	maxRequests int
	timeout     durationFlag
}

func (h *httpFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&h.addr, "http", "", "serve a status page, a JSON API, Prometheus /metrics and the files over HTTP at `address` (host:port, or a port alone for 127.0.0.1); any address but a loopback one needs --http-auth or --http-auth-file")
	fl.StringVar(&h.auth, "http-auth", "", "require HTTP basic authentication with `user:password` (other users of this machine can see it in ps: prefer --http-auth-file)")
	fl.StringVar(&h.authFile, "http-auth-file", "", "require HTTP basic authentication with the user:password held in `file`, which only its owner may read (chmod 600)")
	fl.StringArrayVar(&h.hosts, "http-host", nil, "also answer HTTP requests addressed to this host `name` (repeatable); by default only IP addresses and localhost are, against DNS rebinding")
	fl.IntVar(&h.maxRequests, "http-max-requests", web.DefaultMaxRequests, "most HTTP requests served at once; more get 503")
	h.timeout = durationFlag(web.DefaultStallTimeout)
	fl.Var(&h.timeout, "http-timeout", "cut off an HTTP response whose client takes no data for this long")
}

// errHTTPNoAuth is returned for --http on an address other than loopback without
// credentials.
var errHTTPNoAuth = errors.New("--http: an address other than loopback (127.0.0.1, ::1, localhost) serves the files to the network: give --http-auth-file FILE (user:password) or --http-auth")

// listen checks the flags and listens, or returns nil when --http is not given. Listening
// before anything else is built makes a port taken fail the mount at once.
func (h *httpFlags) listen() (*engine.HTTPConfig, error) {
	if h.addr == "" {
		if h.auth != "" || h.authFile != "" || len(h.hosts) > 0 {
			return nil, usagef("--http-auth, --http-auth-file and --http-host need --http")
		}
		return nil, nil
	}
	addr := h.addr
	if !strings.Contains(addr, ":") { // a port alone
		addr = "127.0.0.1:" + addr
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, usagef("--http %s: want host:port or a port", h.addr)
	}
	if h.maxRequests < 1 {
		return nil, usagef("--http-max-requests %d: want at least 1", h.maxRequests)
	}
	if h.timeout <= 0 {
		return nil, usagef("--http-timeout: want a duration above 0, e.g. 1m")
	}
	for _, n := range h.hosts {
		if n == "" || strings.ContainsAny(n, ":/ ") {
			return nil, usagef("--http-host %q: want a host name, without a port", n)
		}
	}
	s := &engine.HTTPConfig{Options: web.Options{Hosts: h.hosts, MaxRequests: h.maxRequests, StallTimeout: time.Duration(h.timeout)}}
	switch {
	case h.auth != "" && h.authFile != "":
		return nil, usagef("give --http-auth or --http-auth-file, not both")
	case h.auth != "":
		if s.Options.User, s.Options.Password, err = parseAuth(h.auth); err != nil {
			return nil, usagef("--http-auth: %v", err)
		}
	case h.authFile != "":
		b, err := readAuthFile(h.authFile)
		if err != nil {
			return nil, fmt.Errorf("--http-auth-file %s: %w", h.authFile, err)
		}
		if s.Options.User, s.Options.Password, err = parseAuth(strings.TrimRight(string(b), "\r\n")); err != nil {
			return nil, fmt.Errorf("--http-auth-file %s: %w", h.authFile, err)
		}
	}
	if s.Options.User == "" && !isLoopback(host) {
		return nil, errHTTPNoAuth
	}
	if s.Listener, err = net.Listen("tcp", addr); err != nil {
		return nil, fmt.Errorf("--http: %w", err)
	}
	return s, nil
}

// parseAuth splits user:password; neither may be empty.
func parseAuth(s string) (user, pass string, err error) {
	user, pass, ok := strings.Cut(s, ":")
	switch {
	case !ok || user == "" || strings.ContainsAny(s, "\r\n"):
		return "", "", errors.New("want one line user:password")
	case pass == "":
		return "", "", errors.New("the password is empty: anyone could log in; give one")
	}
	return user, pass, nil
}

// maxAuthFile is the most an auth file may hold: one line.
const maxAuthFile = 4 << 10

// readAuthFile reads a credentials file, refusing one that others may read or write, as ssh
// does its keys.
func readAuthFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("mode %04o lets other users read or change the password: chmod 600 %s", perm, name)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxAuthFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxAuthFile {
		return nil, errors.New("want one line user:password, and this file is longer")
	}
	return b, nil
}

// isLoopback reports whether host names only this machine: a loopback IP or localhost. An
// empty host is every interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
