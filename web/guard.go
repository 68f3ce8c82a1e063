package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults of Options.
const (
	// DefaultMaxRequests is how many requests are served at once: a status page polls once a
	// second, a player holds one or two, so 64 leaves room for a household and still bounds
	// the read heads, and so the pinned pieces, that requests can hold.
	DefaultMaxRequests = 64
	// DefaultStallTimeout is how long a response may wait for its client to take data.
	DefaultStallTimeout = time.Minute
)

// Options are the protections Protect puts around a handler. The zero value takes the
// defaults.
type Options struct {
	// Hosts are the names a request may address in its Host header besides IP addresses
	// and localhost; any other name is refused, against DNS rebinding. Case and a trailing
	// dot do not matter.
	Hosts []string
	// User and Password, when User is not empty, are required of every request (HTTP basic
	// authentication). Failed logins are logged and slow down their address.
	User, Password string
	// Public, if set, lets the requests it reports true for past authentication: the DLNA
	// server's, which a TV cannot log in to (package dlna decides which).
	Public func(*http.Request) bool
	// MaxRequests caps the requests served at once; more get 503 with Retry-After.
	// DefaultMaxRequests if 0.
	MaxRequests int
	// StallTimeout cuts off a response whose client has taken nothing for this long (to
	// 1.25 times as long): a client that stops reading lets go of its file, and of the
	// pieces its read head pins. A client that takes data, however slowly, is not cut off.
	// Progress is what the client's TCP acknowledges when the server's ConnContext is
	// ConnContext, else a write of up to 32 KiB that completes. DefaultStallTimeout if 0.
	StallTimeout time.Duration
	// Logger gets failed logins and cut-off responses; slog.Default() if nil.
	Logger *slog.Logger
}

// Protect returns h behind the protections of o, in this order: every response is marked
// nosniff and gets write deadlines; requests to a name not allowed are refused (403);
// requests beyond the cap are turned away (503); state-changing methods from other sites
// are refused (http.CrossOriginProtection; no endpoint changes state: /dav/ refuses every
// write, and its PROPFIND is refused from another site too); then credentials
// are checked, if o asks for them and o.Public does not waive them.
func Protect(h http.Handler, o Options) http.Handler {
	if o.MaxRequests <= 0 {
		o.MaxRequests = DefaultMaxRequests
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.User != "" {
		open, authed := h, basicAuth(h, o.User, o.Password, newLogins(o.Logger))
		h = authed
		if pub := o.Public; pub != nil {
			h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if pub(r) {
					open.ServeHTTP(w, r)
					return
				}
				authed.ServeHTTP(w, r)
			})
		}
	}
	h = http.NewCrossOriginProtection().Handler(h)
	h = limit(h, o.MaxRequests)
	h = checkHost(h, o.Hosts)
	return stallDeadlines(h, o.StallTimeout, o.Logger)
}

// ConnContext is an http.Server's ConnContext that lets Protect see how much of a response
// the client has taken (its TCP acknowledgements), not only whether a write has returned:
// a write blocks until the kernel's send buffer, up to megabytes, has room for it again.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

type connKey struct{}

// stallDeadlines sets nosniff on every response, and a write deadline of d before every
// write and whenever the client has acknowledged data, so a client that takes nothing for
// d is cut off while a slow one that keeps taking data is not. The first deadline is set
// at once: on a kept-alive connection the last request's would still hold.
func stallDeadlines(h http.Handler, d time.Duration, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		rc := http.NewResponseController(w)
		rc.SetWriteDeadline(time.Now().Add(d))
		sw := &stallWriter{ResponseWriter: w, rc: rc, d: d}
		if c, ok := r.Context().Value(connKey{}).(*net.TCPConn); ok {
			done, watched := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(watched)
				watchAcks(c, rc, d, done)
			}()
			defer func() { close(done); <-watched }()
		}
		h.ServeHTTP(sw, r)
		if sw.stalled {
			log.Info("http response cut off: the client took nothing", "for", d, "remote", r.RemoteAddr, "path", r.URL.Path)
		}
	})
}

// watchAcks moves the write deadline of c to d from now each time, checked every d/4,
// that the client has acknowledged more data, until done is closed.
func watchAcks(c *net.TCPConn, rc *http.ResponseController, d time.Duration, done <-chan struct{}) {
	raw, err := c.SyscallConn()
	if err != nil || !countsAcks {
		return
	}
	acked := func() uint64 {
		var n uint64
		raw.Control(func(fd uintptr) { n = bytesAcked(fd) })
		return n
	}
	tick := time.NewTicker(d / 4)
	defer tick.Stop()
	last := acked()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		if n := acked(); n != last {
			last = n
			rc.SetWriteDeadline(time.Now().Add(d))
		}
	}
}

// stallWriter extends the write deadline before each write. It has no ReadFrom, so
// io.Copy (http.ServeContent) writes through it 32 KiB at a time.
type stallWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	d       time.Duration
	stalled bool // a write timed out
}

func (w *stallWriter) Write(p []byte) (int, error) {
	w.rc.SetWriteDeadline(time.Now().Add(w.d))
	n, err := w.ResponseWriter.Write(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		w.stalled = true
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// limit serves at most n requests at once; the others get 503 with Retry-After.
func limit(h http.Handler, n int) http.Handler {
	sem := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
			h.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "5")
			http.Error(w, fmt.Sprintf("503 busy: %d requests are being served, the most this server takes at once; try again", n), http.StatusServiceUnavailable)
		}
	})
}

// checkHost refuses a request whose Host is neither an IP address, localhost nor one of
// names. A page on another site that rebinds its name to this machine's address sends its
// own name, and is refused, so it cannot read what the server answers.
func checkHost(h http.Handler, names []string) http.Handler {
	allowed := map[string]bool{"localhost": true}
	for _, n := range names {
		allowed[normalHost(n)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		host = normalHost(host)
		if _, err := netip.ParseAddr(host); err != nil && host != "" && !allowed[host] {
			http.Error(w, fmt.Sprintf("403 forbidden: this server answers requests addressed to an IP address or localhost, not to %q "+
				"(a guard against DNS rebinding); to reach it by this name, start the mount with --http-host %s (-o http_host=%s)",
				r.Host, host, host), http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// normalHost is a host name in lower case, without brackets or a trailing dot.
func normalHost(h string) string {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// retryAfter is d in whole seconds, at least 1, for a Retry-After header.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}
