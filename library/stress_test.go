package library

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	tfs "github.com/torrentfs/torrentfs/fs"
)

// TestStress adds, removes, re-adds, lists and reads torrents from many goroutines at once,
// over a real mount, cache and client: .torrent files (two of the same name) and magnet
// links no peer has, whose metadata stays pending (no metadata timeout). Every call must
// succeed or fail as documented; a magnet link removed can always be added again; the
// mount's root holds exactly the entries the library lists with a name. Then the same runs
// again while the library closes. Run it under -race, many times.
func TestStress(t *testing.T) {
	c, err := cache.Open(t.TempDir(), cache.Options{Logger: fetchtest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := fetch.New(fetchtest.Loopback(fetch.Config{Storage: c}))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := tfs.CheckMountPoint(dir, nil); err != nil {
		t.Fatal(err)
	}
	mnt, err := tfs.New(dir, tfs.Options{Logger: fetchtest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	// The library warns of nothing here: a warning is a metadata wait that failed (its
	// info-hash still in the client) or a database that would not open.
	l := New(cl, c, mnt, Options{Logger: slog.New(failOnWarn{t, fetchtest.Logger().Handler()})})
	t.Cleanup(func() {
		l.Close()
		cl.Close()
		c.Close()
		if err := mnt.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
		mnt.Wait()
	})

	var sources []string
	for i, name := range []string{"same", "same", "other"} {
		files := []fetchtest.File{{Data: fetchtest.Payload(3*16384+7, uint64(i))}}
		sources = append(sources, fetchtest.NewSwarm(t, name, files, 16384).TorrentPath)
	}
	magnets := map[string]bool{}
	for i := range 3 {
		m := fmt.Sprintf("magnet:?xt=urn:btih:%040x&dn=pending%d", 0xdead0000+i, i)
		sources = append(sources, m)
		magnets[m] = true
	}
	keys := make(map[string]string) // source → info-hash
	for _, s := range sources {
		src, err := resolve(t.Context(), nil, s)
		if err != nil {
			t.Fatal(err)
		}
		keys[s] = src.ih.HexString()
	}

	// run runs workers goroutines of ops calls each; once closing is set, the library may
	// refuse anything.
	var closing atomic.Bool
	run := func(workers, ops int, seed uint64) {
		var wg sync.WaitGroup
		for w := range workers {
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			wg.Go(func() {
				for range ops {
					s := sources[r.IntN(len(sources))]
					switch r.IntN(6) {
					case 0, 1:
						err := l.Add(t.Context(), s)
						switch {
						case err == nil, errors.Is(err, ErrDuplicate), closing.Load():
						case !magnets[s] && errors.Is(err, fetch.ErrDuplicate):
							// A .torrent removed while it started leaves the client when
							// the start's handle closes, as a removed torrent's open files
							// keep reading: until then the client has it.
						default:
							t.Errorf("add %s: %v", s, err)
						}
					case 2, 3:
						err := l.Remove(keys[s], false)
						if err != nil && !errors.Is(err, ErrNotFound) && !closing.Load() {
							t.Errorf("remove %s: %v", s, err)
						}
					case 4:
						for _, i := range l.List() {
							if i.Name != "" && i.Length == 0 {
								t.Errorf("list: %+v has a name and no length", i)
							}
						}
						l.Get(keys[s])
						l.Torrents()
					case 5:
						if _, err := os.ReadDir(dir); err != nil {
							t.Errorf("read the mount's root: %v", err)
						}
					}
				}
			})
		}
		wg.Wait()
	}

	run(8, 40, 1)
	if t.Failed() {
		return
	}
	// At rest, the root holds the named entries, and every magnet link can be removed and
	// added again.
	var names []string
	for _, i := range l.List() {
		if i.Name != "" {
			names = append(names, i.Name)
		}
	}
	slices.Sort(names)
	if got := mnt.Names(); !slices.Equal(got, names) {
		t.Errorf("the mount's root holds %q; the library lists %q", got, names)
	}
	for m := range magnets {
		if err := l.Remove(keys[m], false); err != nil && !errors.Is(err, ErrNotFound) {
			t.Errorf("remove %s: %v", m, err)
		}
		if err := l.Add(context.Background(), m); err != nil {
			t.Errorf("add %s again: %v", m, err)
		}
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		run(8, 20, 2)
	}()
	closing.Store(true)
	l.Close()
	<-done
	if err := l.Add(t.Context(), sources[0]); err == nil {
		t.Errorf("add after Close: no error")
	}
}

// failOnWarn passes records on, and fails the test on a warning or an error.
type failOnWarn struct {
	t *testing.T
	slog.Handler
}

func (h failOnWarn) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		var attrs []string
		r.Attrs(func(a slog.Attr) bool {
			attrs = append(attrs, a.String())
			return true
		})
		h.t.Errorf("the library logged %s: %s %v", r.Level, r.Message, attrs)
	}
	return h.Handler.Handle(ctx, r)
}

func (h failOnWarn) WithAttrs(as []slog.Attr) slog.Handler {
	return failOnWarn{h.t, h.Handler.WithAttrs(as)}
}

func (h failOnWarn) WithGroup(name string) slog.Handler {
	return failOnWarn{h.t, h.Handler.WithGroup(name)}
}
