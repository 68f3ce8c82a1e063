package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
)

// BasicAuth lets through only requests with user and password (HTTP basic authentication);
// the others get 401. The comparison takes the same time whatever the credentials sent.
func BasicAuth(h http.Handler, user, password string) http.Handler {
	wantU, wantP := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		gotU, gotP := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		match := subtle.ConstantTimeCompare(gotU[:], wantU[:]) & subtle.ConstantTimeCompare(gotP[:], wantP[:])
		if !ok || match != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="torrentfs", charset="UTF-8"`)
			http.Error(w, "401 unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
