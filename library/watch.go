package library

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settle is how long a watched file must go unchanged before it is read: a .torrent being
// copied in arrives in several writes.
const settle = 200 * time.Millisecond

// watcher watches one directory for .torrent and .magnet files.
type watcher struct {
	dir string
	w   *fsnotify.Watcher
}

// isTorrentFile reports whether a watched directory's file is one the library takes.
func isTorrentFile(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return (ext == ".torrent" || ext == ".magnet") && !strings.HasPrefix(filepath.Base(name), ".")
}

// watch adds the .torrent and .magnet files of dir, and keeps adding and removing them as
// they come and go while mounted.
func (l *Library) watch(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	if err := w.Add(abs); err != nil {
		w.Close()
		return err
	}
	l.mu.Lock()
	if _, ok := l.watched[abs]; ok || l.closed {
		l.mu.Unlock()
		w.Close()
		if ok {
			return nil
		}
		return context.Canceled
	}
	wa := &watcher{dir: abs, w: w}
	l.watched[abs] = wa
	l.mu.Unlock()
	// A watcher not started closes its fsnotify watcher here; a started one, as it ends.
	started := false
	defer func() {
		if !started {
			w.Close()
		}
	}()
	entries, err := os.ReadDir(abs)
	if err != nil {
		return err
	}
	added := 0
	for _, de := range entries {
		if !de.IsDir() && isTorrentFile(de.Name()) {
			if l.addWatched(filepath.Join(abs, de.Name())) {
				added++
			}
		}
	}
	l.mu.Lock()
	started = l.goLocked(func() { l.runWatcher(wa) })
	l.mu.Unlock()
	if !started {
		return errClosed
	}
	l.log.Info("watching", "dir", abs, "torrents", added)
	return nil
}

// runWatcher applies a directory's changes until the library closes. A file is handled once
// it has been quiet for settle.
func (l *Library) runWatcher(wa *watcher) {
	defer wa.w.Close()
	due := make(map[string]time.Time)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case ev, ok := <-wa.w.Events:
			if !ok {
				return
			}
			if isTorrentFile(ev.Name) {
				due[ev.Name] = time.Now().Add(settle)
			}
		case err, ok := <-wa.w.Errors:
			if !ok {
				return
			}
			l.log.Warn("watching a directory", "dir", wa.dir, "err", err)
		case <-timer.C:
		}
		next := time.Hour
		for path, at := range due {
			if d := time.Until(at); d > 0 {
				next = min(next, d)
				continue
			}
			delete(due, path)
			l.sync(path)
		}
		timer.Reset(next)
	}
}

// sync brings the library in line with a watched file: added if it is there and not yet
// added, removed if gone, replaced if it now names another torrent.
func (l *Library) sync(path string) {
	_, err := os.Stat(path)
	deleted := err != nil
	l.mu.Lock()
	var old *entry
	for _, e := range l.entries {
		if e.origin == path && e.state != removing {
			old = e
		}
	}
	if old != nil && deleted {
		l.takeLocked(old)
	}
	l.mu.Unlock()
	switch {
	case old != nil && deleted:
		if err := l.remove(old, false); err != nil {
			l.log.Warn("cannot remove torrent", "file", path, "err", err)
		}
	case old == nil && !deleted:
		l.addWatched(path)
	case old != nil:
		if src, err := resolve(l.ctx, l.http, path); err == nil && src.ih != old.ih {
			if l.Remove(old.ih.HexString(), false) == nil {
				l.addWatched(path)
			}
		}
	}
}

// addWatched adds a watched directory's file, logging why not; it reports whether it did.
func (l *Library) addWatched(path string) bool {
	if err := l.add(l.ctx, path, path); err != nil {
		l.log.Warn("cannot add torrent", "file", path, "err", err)
		return false
	}
	return true
}
