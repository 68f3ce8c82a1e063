package fetch

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torrentfs/torrentfs/cache"
)

// A magnet link that no peer serves waits for its metadata until cancelled, and says it is
// still waiting meanwhile.
func TestMetadataWaitIsReported(t *testing.T) {
	defer func(d time.Duration) { metadataNote = d }(metadataNote)
	metadataNote = 20 * time.Millisecond
	var log lockedBuffer
	st, err := cache.Open(t.TempDir(), cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := New(Config{ListenAddr: "127.0.0.1:0", NoDHT: true, NoPortForwarding: true, NoPEX: true, NoTrackers: true,
		Logger: slog.New(slog.NewTextHandler(&log, nil)), Storage: st})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Add(ctx, "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567", AddOptions{})
		done <- err
	}()
	for !strings.Contains(log.String(), "still waiting for metadata from peers") {
		select {
		case err := <-done:
			t.Fatalf("Add returned before it had metadata: %v", err)
		case <-time.After(10 * time.Millisecond): // polling the log: there is nothing to wait on
		}
	}
	cancel()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "waiting for metadata from peers") {
		t.Fatalf("Add after cancel: %v", err)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
