package engine

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/torrentfs/torrentfs/web"
)

// HTTPConfig configures the engine's HTTP server (package web).
type HTTPConfig struct {
	// Listener is where to serve. If nil, Open listens on Addr.
	Listener net.Listener
	// Addr is the TCP address Open listens on when Listener is nil.
	Addr string
	// Options guard the server: credentials, host names, limits. Its Logger is the engine's.
	Options web.Options
}

// DLNAConfig configures the engine's DLNA server (package dlna).
type DLNAConfig struct {
	// FriendlyName is the name players show. Required.
	FriendlyName string
	// ID keeps the device's identity across restarts (dlna.Options.ID).
	ID string
	// Interfaces are where the server is announced (dlna.Interfaces).
	Interfaces []net.Interface
	// NotifyInterval is how often it is announced; dlna.DefaultNotifyInterval if zero.
	NotifyInterval time.Duration
}

// httpServer is the engine's web server: serving from serve until stop.
type httpServer struct {
	// Immutable after serve.
	l        net.Listener
	srv      *http.Server
	cancel   context.CancelFunc // ends the requests' reads
	handlers sync.WaitGroup     // requests being served
	done     chan struct{}      // closed when Serve returned
}

// serveHTTP serves h on l, guarded by opts, until stop.
func serveHTTP(l net.Listener, h http.Handler, opts web.Options, log *slog.Logger) *httpServer {
	opts.Logger = log
	h = web.Protect(h, opts)
	ctx, cancel := context.WithCancel(context.Background())
	s := &httpServer{l: l, cancel: cancel, done: make(chan struct{})}
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.handlers.Add(1)
			defer s.handlers.Done()
			h.ServeHTTP(w, r)
		}),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnContext:       web.ConnContext, // lets web.Protect see a slow client's progress
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		// No ReadTimeout or WriteTimeout: they would end a long stream. Requests have no
		// body, and web.Protect gives each write its own deadline.
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	log.Info("http", "addr", l.Addr().String(), "url", "http://"+l.Addr().String()+"/", "auth", opts.User != "", "max_requests", opts.MaxRequests)
	return s
}

// stop stops the server: new connections are refused, idle ones closed; requests still
// running after HTTPStopWait have their reads cancelled. It waits for the server and every
// request.
func (s *httpServer) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), HTTPStopWait)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.cancel()
		s.srv.Close()
	}
	s.cancel()
	<-s.done
	s.handlers.Wait()
	return nil
}

// HTTPStopWait is how long Close lets HTTP requests finish.
const HTTPStopWait = 2 * time.Second

// controlServer serves the control API (add, remove, ls, status) on the control listener.
type controlServer struct {
	srv  *http.Server
	done chan struct{}
}

func serveControl(l net.Listener, h http.Handler) *controlServer {
	s := &controlServer{srv: &http.Server{Handler: h}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.srv.Serve(l)
	}()
	return s
}

// stop closes the listener (a unix socket's file goes with it) and every connection, and
// waits for the server.
func (s *controlServer) stop() error {
	s.srv.Close()
	<-s.done
	return nil
}
