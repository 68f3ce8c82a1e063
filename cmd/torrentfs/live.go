package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/torrentfs/torrentfs/internal/human"
	"github.com/torrentfs/torrentfs/library"
	"github.com/torrentfs/torrentfs/status"
)

// liveLine keeps one status line at the bottom of a terminal, under the log: each record
// written through it clears the line, goes above it, and the line is drawn again. The
// cursor waits at the start of the line, so that whatever else writes to the terminal
// overwrites it rather than running on from its end.
type liveLine struct {
	w *os.File

	mu   sync.Mutex
	line string // drawn now; guarded by mu
}

// Write writes a log record above the line.
func (l *liveLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.line == "" {
		return l.w.Write(p)
	}
	var b strings.Builder
	b.WriteString("\x1b[K")
	b.Write(p)
	b.WriteString(l.line + "\r")
	if _, err := l.w.WriteString(b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// set draws s as the line; "" clears it.
func (l *liveLine) set(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s == l.line {
		return
	}
	l.line = s
	if s != "" {
		s += "\r"
	}
	l.w.WriteString("\x1b[K" + s)
}

// width is the terminal's width in columns, 80 if it cannot be told.
func (l *liveLine) width() int {
	if w := termWidth(l.w); w > 0 {
		return w
	}
	return 80
}

// liveEvery is how often the line is drawn again.
const liveEvery = time.Second

// run draws the mount's status every liveEvery until stop is closed, then clears the line.
func (l *liveLine) run(lib *library.Library, stop <-chan struct{}) {
	tick := time.NewTicker(liveEvery)
	defer tick.Stop()
	for {
		l.set(human.Clip(liveStatus(lib), l.width()-1))
		select {
		case <-tick.C:
		case <-stop:
			l.set("")
			return
		}
	}
}

// liveStatus is the mount's status in one line: rates, peers, what is cached of the whole,
// and the torrent read the most now.
func liveStatus(lib *library.Library) string {
	var down, up, readRate float64
	var peers int
	var cached, length int64
	reading := ""
	for _, t := range lib.Torrents() {
		st := t.Stats()
		down, up, peers = down+st.DownloadRate, up+st.UploadRate, peers+st.Peers
		cached, length = cached+st.Cached, length+t.Length()
		if st.ReadRate > readRate {
			readRate, reading = st.ReadRate, human.Text(t.Name())
		}
	}
	line := fmt.Sprintf("↓ %s ↑ %s · %d peers · %s of %s cached", status.Rate(down), status.Rate(up), peers,
		human.Bytes(cached), human.Bytes(length))
	if reading != "" {
		line += fmt.Sprintf(" · reading %s at %s", reading, status.Rate(readRate))
	}
	return line
}
