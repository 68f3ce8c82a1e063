package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/torrentfs/torrentfs/web"
)

// httpFlags are mount's --http flags: the web server (package web) of the mount.
type httpFlags struct {
	addr     string
	auth     string
	authFile string
}

func (h *httpFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&h.addr, "http", "", "serve a status page, a JSON API, Prometheus /metrics and the files over HTTP at `address` (host:port, or a port alone for 127.0.0.1); any address but a loopback one needs --http-auth or --http-auth-file")
	fl.StringVar(&h.auth, "http-auth", "", "require HTTP basic authentication with `user:password` (other users of this machine can see it in ps: prefer --http-auth-file)")
	fl.StringVar(&h.authFile, "http-auth-file", "", "require HTTP basic authentication with the user:password held in `file`")
}

// errHTTPNoAuth is returned for --http on an address other than loopback without
// credentials.
var errHTTPNoAuth = errors.New("--http: an address other than loopback (127.0.0.1, ::1, localhost) serves the files to the network: give --http-auth-file FILE (user:password) or --http-auth")

// httpServer is the mount's web server: listening from listen, serving from serve until stop.
type httpServer struct {
	l          net.Listener
	user, pass string
	auth       bool

	srv      *http.Server
	cancel   context.CancelFunc // ends the requests' reads
	handlers sync.WaitGroup     // requests being served
	done     chan struct{}      // closed when Serve returned
	stopped  sync.Once
}

// listen checks the flags and listens, or returns nil when --http is not given.
func (h *httpFlags) listen() (*httpServer, error) {
	if h.addr == "" {
		if h.auth != "" || h.authFile != "" {
			return nil, usagef("--http-auth and --http-auth-file need --http")
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
	s := &httpServer{}
	switch {
	case h.auth != "" && h.authFile != "":
		return nil, usagef("give --http-auth or --http-auth-file, not both")
	case h.auth != "":
		s.user, s.pass, s.auth = parseAuth(h.auth)
		if !s.auth {
			return nil, usagef("--http-auth: want user:password")
		}
	case h.authFile != "":
		b, err := os.ReadFile(h.authFile)
		if err != nil {
			return nil, fmt.Errorf("--http-auth-file: %w", err)
		}
		s.user, s.pass, s.auth = parseAuth(strings.TrimRight(string(b), "\r\n"))
		if !s.auth {
			return nil, fmt.Errorf("--http-auth-file %s: want one line user:password", h.authFile)
		}
	}
	if !s.auth && !isLoopback(host) {
		return nil, errHTTPNoAuth
	}
	if s.l, err = net.Listen("tcp", addr); err != nil {
		return nil, fmt.Errorf("--http: %w", err)
	}
	return s, nil
}

func parseAuth(s string) (user, pass string, ok bool) {
	user, pass, ok = strings.Cut(s, ":")
	return user, pass, ok && user != "" && !strings.ContainsAny(s, "\r\n")
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

// serve serves h until stop. Call it once.
func (s *httpServer) serve(h http.Handler, log *slog.Logger) {
	if s.auth {
		h = web.BasicAuth(h, s.user, s.pass)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.handlers.Add(1)
			defer s.handlers.Done()
			h.ServeHTTP(w, r)
		}),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(s.l); !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	log.Info("http", "addr", s.l.Addr().String(), "url", "http://"+s.l.Addr().String()+"/", "auth", s.auth)
}

// stop stops the server: new connections are refused, idle ones closed; requests still
// running after httpStopWait have their reads cancelled. It waits for the server and every
// request, and closes the listener if serve was never called. Later calls do nothing.
func (s *httpServer) stop() {
	if s != nil {
		s.stopped.Do(s.shutdown)
	}
}

func (s *httpServer) shutdown() {
	if s.srv == nil {
		s.l.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), httpStopWait)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.cancel()
		s.srv.Close()
	}
	s.cancel()
	<-s.done
	s.handlers.Wait()
}

// httpStopWait is how long a stopping mount lets HTTP requests finish.
const httpStopWait = 2 * time.Second
