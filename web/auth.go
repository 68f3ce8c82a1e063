package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// basicAuth lets through only requests with user and password (HTTP basic authentication);
// the others get 401. The comparison takes the same time whatever the credentials sent.
// After a failed login its address is refused for a while (logins), with 429.
func basicAuth(h http.Handler, user, password string, l *logins) http.Handler {
	wantU, wantP := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := remoteIP(r)
		if wait := l.wait(addr, time.Now()); wait > 0 {
			w.Header().Set("Retry-After", retryAfter(wait))
			http.Error(w, fmt.Sprintf("429 too many failed logins from %s: try again in %s", addr, retryAfter(wait)+" s"), http.StatusTooManyRequests)
			return
		}
		u, p, ok := r.BasicAuth()
		gotU, gotP := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		match := subtle.ConstantTimeCompare(gotU[:], wantU[:]) & subtle.ConstantTimeCompare(gotP[:], wantP[:])
		if !ok || match != 1 {
			if ok { // a browser's first request carries no credentials: not a failure
				l.failed(addr, time.Now())
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="torrentfs", charset="UTF-8"`)
			http.Error(w, "401 unauthorized", http.StatusUnauthorized)
			return
		}
		l.succeeded(addr)
		h.ServeHTTP(w, r)
	})
}

// remoteIP is the address a request came from, without its port; for IPv6 its /64, which
// one host or home network can take addresses from at will.
func remoteIP(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	if ip, err := netip.ParseAddr(h); err == nil && ip.Unmap().Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.String()
		}
	}
	return h
}

// Limits of logins.
const (
	loginFirstDelay = time.Second      // after the first failure; it doubles with each
	loginMaxDelay   = time.Minute      // the most an address is made to wait
	loginForget     = 15 * time.Minute // failures are forgotten this long after the wait
	loginMaxAddrs   = 1024             // addresses tracked; beyond, they share one entry
	loginLogEvery   = 5 * time.Second  // at most one log line per this
)

// logins slows down password guessing: after an address's nth failed login in a row, its
// requests are refused, without a look at their credentials, for 1 s × 2ⁿ⁻¹ (at most a
// minute). Nothing sleeps, so a flood holds no goroutines and no lock. The map is bounded:
// past loginMaxAddrs, new addresses' failures are counted and logged in one shared entry,
// but they are not refused, since refusing every address the map has no room for would let
// a flood from many addresses lock out the mount's own users. Failed logins are logged, at
// most one line per loginLogEvery, which counts those not logged.
type logins struct {
	// Immutable after newLogins.
	log *slog.Logger

	mu sync.Mutex
	// Guarded by mu.
	addrs     map[string]*loginFailures
	lastLog   time.Time
	lastPrune time.Time // when forgotten addresses were last dropped
	unlogged  int       // failed logins not yet in a log line
}

type loginFailures struct {
	n     int       // in a row
	until time.Time // refused until then
}

func newLogins(log *slog.Logger) *logins {
	return &logins{log: log, addrs: make(map[string]*loginFailures)}
}

// overflowAddr is the entry that addresses beyond loginMaxAddrs share.
const overflowAddr = "*"

// wait returns how long addr is still refused.
func (l *logins) wait(addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.addrs[addr] // an address past the bound is not slowed down: see logins
	if f == nil || !now.Before(f.until) {
		return 0
	}
	return f.until.Sub(now)
}

// failed records a failed login from addr and logs it.
func (l *logins) failed(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := addr
	f := l.addrs[key]
	if f == nil && len(l.addrs) >= loginMaxAddrs {
		if now.Sub(l.lastPrune) >= time.Minute { // not at every failure of a flood
			for a, g := range l.addrs {
				if now.Sub(g.until) > loginForget {
					delete(l.addrs, a)
				}
			}
			l.lastPrune = now
		}
		if len(l.addrs) >= loginMaxAddrs {
			key = overflowAddr
			f = l.addrs[key]
		}
	}
	if f == nil || now.Sub(f.until) > loginForget {
		f = &loginFailures{}
		l.addrs[key] = f
	}
	f.n++
	delay := loginMaxDelay
	if f.n <= 7 {
		delay = min(loginFirstDelay<<(f.n-1), loginMaxDelay)
	}
	f.until = now.Add(delay)
	l.unlogged++
	if now.Sub(l.lastLog) >= loginLogEvery {
		l.log.Warn("http login failed", "remote", addr, "in_a_row", f.n, "refused_for", delay, "failed_logins", l.unlogged)
		l.lastLog, l.unlogged = now, 0
	}
}

// succeeded forgets addr's failures.
func (l *logins) succeeded(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.addrs, addr)
}
