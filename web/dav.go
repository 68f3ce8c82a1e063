package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/net/webdav"

	"github.com/torrentfs/torrentfs/fetch"
	tfs "github.com/torrentfs/torrentfs/fs"
)

// WebDAV, read-only, at /dav/: the mount's tree as golang.org/x/net/webdav sees a file
// system, its files read through the same fetch.Handle path as /files/ (readSeeker, with
// the request's context). The methods that would change anything get 403 (LOCK and
// UNLOCK 405) before the webdav package sees them, and the file system refuses them too
// (os.ErrPermission). Locks are not offered: OPTIONS says "DAV: 1", which
// Finder takes for a read-only server. PROPFIND of infinite depth is refused (403,
// propfind-finite-depth, RFC 4918 9.1): depth 0 and 1 are bounded by one directory.

// davPrefix is where the WebDAV tree is served.
const davPrefix = "/dav"

// davAllow are the methods /dav/ answers.
const davAllow = "OPTIONS, GET, HEAD, PROPFIND"

// dav returns the WebDAV handler of the mount's tree.
func (s *Server) dav() http.Handler {
	h := &webdav.Handler{Prefix: davPrefix, FileSystem: davFS{s.mnt}, LockSystem: noLocks{}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "sandbox")
		p, ok := treePath(r, davPrefix)
		if !ok {
			http.NotFound(w, r)
			return
		}
		switch r.Method {
		case http.MethodOptions:
			w.Header().Set("DAV", "1")
			w.Header().Set("MS-Author-Via", "DAV")
			w.Header().Set("Allow", davAllow)
			return
		case http.MethodGet, http.MethodHead:
			if ct := contentType(p); ct != "" {
				w.Header().Set("Content-Type", ct)
			}
		case "PROPFIND":
			if d := r.Header.Get("Depth"); d != "0" && d != "1" {
				w.Header().Set("Content-Type", "application/xml; charset=utf-8")
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprint(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+`<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>`)
				return
			}
		case http.MethodPut, "MKCOL", http.MethodDelete, "COPY", "MOVE", "PROPPATCH":
			// 403 rather than 405: a client takes 405 to MKCOL for "it exists already".
			http.Error(w, "403 forbidden: this WebDAV server is read-only", http.StatusForbidden)
			return
		default: // LOCK, UNLOCK, POST and the unknown
			w.Header().Set("Allow", davAllow)
			http.Error(w, "405 method not allowed: this WebDAV server is read-only", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// treePath returns the path in the mount that r names under prefix (/dav or /files), and
// false for a path that plays tricks: a "." or ".." element (percent-encoded or not), an
// empty one, an encoded slash, a backslash or a NUL. Percent-encoding is undone once: what
// "%252e" names is a file called "%2e".
func treePath(r *http.Request, prefix string) (string, bool) {
	if strings.Contains(strings.ToLower(r.URL.EscapedPath()), "%2f") {
		return "", false
	}
	p, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok || (p != "" && p[0] != '/') {
		return "", false
	}
	return cleanDavName(p)
}

// cleanDavName returns name, as webdav hands it over ("/a/b/", "" for the root), as a path
// of the mount ("a/b"), and false if it plays tricks. One slash may lead and one may end
// it; no element may be empty.
func cleanDavName(name string) (string, bool) {
	p := strings.TrimSuffix(strings.TrimPrefix(name, "/"), "/")
	if p == "" {
		return "", true
	}
	if strings.ContainsAny(p, "\\\x00") {
		return "", false
	}
	for _, e := range strings.Split(p, "/") {
		if e == "" || e == "." || e == ".." {
			return "", false
		}
	}
	return p, true
}

// davFS is the mount's tree as a webdav.FileSystem, read-only.
type davFS struct{ mnt *tfs.Mount }

var _ webdav.FileSystem = davFS{}

func (davFS) Mkdir(context.Context, string, os.FileMode) error { return os.ErrPermission }
func (davFS) RemoveAll(context.Context, string) error          { return os.ErrPermission }
func (davFS) Rename(context.Context, string, string) error     { return os.ErrPermission }

func (d davFS) Stat(_ context.Context, name string) (os.FileInfo, error) {
	p, ok := cleanDavName(name)
	if !ok {
		return nil, os.ErrNotExist
	}
	e, ok := d.mnt.Stat(p)
	if !ok {
		return nil, os.ErrNotExist
	}
	return d.info(p, e), nil
}

// OpenFile opens a file for reading through a fetch.Handle that reads with ctx, the
// request's, or a directory for listing. Any other flag is refused.
func (d davFS) OpenFile(ctx context.Context, name string, flag int, _ os.FileMode) (webdav.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0 {
		return nil, os.ErrPermission
	}
	p, ok := cleanDavName(name)
	if !ok {
		return nil, os.ErrNotExist
	}
	e, ok := d.mnt.Stat(p)
	if !ok {
		return nil, os.ErrNotExist
	}
	info := d.info(p, e)
	if e.Dir {
		return &davDir{fs: d, path: p, info: info}, nil
	}
	t, i, ok := d.mnt.Lookup(p)
	if !ok {
		return nil, os.ErrNotExist
	}
	return &davFile{rs: readSeeker{ctx: ctx}, t: t, index: i, info: info}, nil
}

// info describes the entry e at path p of the mount, with the ETag and content type of
// /files/.
func (d davFS) info(p string, e tfs.DirEntry) *davInfo {
	fi := &davInfo{e: e}
	if !e.Dir {
		fi.etag = etag(e.Ino)
		if fi.ctype = contentType(p); fi.ctype == "" {
			fi.ctype = "application/octet-stream"
		}
	}
	return fi
}

// davInfo is an os.FileInfo of the tree, with the webdav.ETager and webdav.ContentTyper
// of its files, so that PROPFIND neither opens nor sniffs them.
type davInfo struct {
	e     tfs.DirEntry
	etag  string // of a file
	ctype string // of a file
}

var (
	_ webdav.ETager       = (*davInfo)(nil)
	_ webdav.ContentTyper = (*davInfo)(nil)
)

func (fi *davInfo) Name() string       { return fi.e.Name }
func (fi *davInfo) Size() int64        { return fi.e.Size }
func (fi *davInfo) ModTime() time.Time { return fi.e.ModTime }
func (fi *davInfo) IsDir() bool        { return fi.e.Dir }
func (fi *davInfo) Sys() any           { return nil }
func (fi *davInfo) Mode() fs.FileMode {
	if fi.e.Dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}

// ETag is /files/'s: the inode number the mount shows. webdav asks it of files only.
func (fi *davInfo) ETag(context.Context) (string, error) {
	if fi.etag == "" {
		return "", webdav.ErrNotImplemented
	}
	return fi.etag, nil
}

func (fi *davInfo) ContentType(context.Context) (string, error) {
	if fi.ctype == "" {
		return "", webdav.ErrNotImplemented
	}
	return fi.ctype, nil
}

// davFile is a file of the tree open for reading. Its fetch.Handle is opened by the first
// Read: webdav opens every file a PROPFIND lists, and opening a Handle wakes the torrent
// and starts its prefetch.
type davFile struct {
	// Immutable after OpenFile.
	t     *fetch.Torrent
	index int
	info  *davInfo

	rs readSeeker // rs.h is nil until the first Read
}

func (f *davFile) Read(p []byte) (int, error) {
	if f.rs.h == nil {
		h, err := f.t.Open(f.index)
		if err != nil {
			return 0, err
		}
		f.rs.h = h
	}
	return f.rs.Read(p)
}

func (f *davFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += f.rs.off
	case io.SeekEnd:
		off += f.info.e.Size
	}
	if off < 0 {
		return 0, errors.New("seek before the start of the file")
	}
	f.rs.off = off
	return off, nil
}

func (f *davFile) Close() error {
	if f.rs.h == nil {
		return nil
	}
	return f.rs.h.Close()
}

func (f *davFile) Stat() (os.FileInfo, error)         { return f.info, nil }
func (f *davFile) Readdir(int) ([]os.FileInfo, error) { return nil, os.ErrInvalid }
func (f *davFile) Write([]byte) (int, error)          { return 0, os.ErrPermission }

// davDir is a directory of the tree open for listing. Its entries are read by Readdir,
// not by OpenFile: webdav opens every directory a PROPFIND lists, and lists only the one
// asked for.
type davDir struct {
	// Immutable after OpenFile.
	fs   davFS
	path string
	info *davInfo
}

func (d *davDir) Close() error                   { return nil }
func (d *davDir) Stat() (os.FileInfo, error)     { return d.info, nil }
func (d *davDir) Read([]byte) (int, error)       { return 0, os.ErrInvalid }
func (d *davDir) Seek(int64, int) (int64, error) { return 0, os.ErrInvalid }
func (d *davDir) Write([]byte) (int, error)      { return 0, os.ErrPermission }

// Readdir returns every entry (count <= 0, as webdav asks), as the tree holds them now.
func (d *davDir) Readdir(count int) ([]os.FileInfo, error) {
	if count > 0 {
		return nil, os.ErrInvalid
	}
	es, ok := d.fs.mnt.ReadDir(d.path)
	if !ok {
		return nil, os.ErrNotExist // removed since OpenFile
	}
	infos := make([]os.FileInfo, len(es))
	for i, c := range es {
		infos[i] = d.fs.info(path.Join(d.path, c.Name), c)
	}
	return infos, nil
}

// noLocks is the LockSystem of a read-only tree: nothing can be locked, and since every
// method that would take a lock is refused first, Confirm is never reached with one.
type noLocks struct{}

func (noLocks) Confirm(time.Time, string, string, ...webdav.Condition) (func(), error) {
	return nil, webdav.ErrConfirmationFailed
}
func (noLocks) Create(time.Time, webdav.LockDetails) (string, error) { return "", webdav.ErrLocked }
func (noLocks) Refresh(time.Time, string, time.Duration) (webdav.LockDetails, error) {
	return webdav.LockDetails{}, webdav.ErrNoSuchLock
}
func (noLocks) Unlock(time.Time, string) error { return webdav.ErrNoSuchLock }
