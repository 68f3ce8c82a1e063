package status_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/torrentfs/torrentfs/engine"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/internal/testnet"
	"github.com/torrentfs/torrentfs/library"
	"github.com/torrentfs/torrentfs/status"
)

// TestMain runs the tests, which start peers, in a network namespace of their own when
// run as root: see testnet.
func TestMain(m *testing.M) {
	testnet.Isolate()
	os.Exit(m.Run())
}

const pieceLen = 64 << 10

// served is an engine without a mount, serving its control API on a unix socket and its web
// server on 127.0.0.1, with one two-file torrent from a seeder on the loopback.
type served struct {
	e             *engine.Engine
	cacheDir      string
	swarm         *fetchtest.Swarm
	addr          string // the seeder's
	control, web  *http.Client
	controlBase   string
	webBase       string
	first, second []byte // the files' data
}

func serve(t *testing.T) *served {
	t.Helper()
	s := &served{
		first:  fetchtest.Payload(3*pieceLen+5, 1),
		second: append(fetchtest.Payload(2*pieceLen+77, 2), 0),
	}
	s.swarm = fetchtest.NewSwarm(t, "album", []fetchtest.File{
		{Path: []string{"cd1", "one.bin"}, Data: s.first},
		{Path: []string{"two.bin"}, Data: s.second},
	}, pieceLen)
	_, s.addr = s.swarm.StartSeeder(t)
	sock := filepath.Join(t.TempDir(), "control.sock")
	ctl, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s.cacheDir = t.TempDir()
	s.e, err = engine.Open(t.Context(), engine.Config{
		CacheDir:     s.cacheDir,
		CacheMaxSize: 256 << 20,
		Client:       fetchtest.Loopback(fetch.Config{}),
		Library:      library.Options{Add: fetch.AddOptions{Peers: []string{s.addr}}},
		Sources:      []string{s.swarm.TorrentPath},
		Control:      ctl,
		HTTP:         &engine.HTTPConfig{Addr: "127.0.0.1:0"},
		Logger:       fetchtest.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctlTr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	webTr := &http.Transport{}
	s.control, s.controlBase = &http.Client{Transport: ctlTr}, "http://control"
	s.web, s.webBase = &http.Client{Transport: webTr}, "http://"+s.e.HTTPAddr().String()
	t.Cleanup(func() {
		ctlTr.CloseIdleConnections()
		webTr.CloseIdleConnections()
		if err := s.e.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// do sends a request and returns the answer's status and body.
func do(t *testing.T, c *http.Client, method, url string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// getJSON gets url and decodes its JSON answer into v, which must come with want.
func getJSON(t *testing.T, c *http.Client, url string, want int, v any) {
	t.Helper()
	code, b := do(t, c, http.MethodGet, url, nil)
	if code != want {
		t.Fatalf("GET %s: %d, want %d:\n%s", url, code, want, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v:\n%s", url, err, b)
	}
}

// readFirst reads the torrent's first file through the web server, so that its pieces are
// cached.
func (s *served) readFirst(t *testing.T) {
	t.Helper()
	code, b := do(t, s.web, http.MethodGet, s.webBase+"/files/album/cd1/one.bin", nil)
	if code != http.StatusOK || !bytes.Equal(b, s.first) {
		t.Fatalf("GET /files/album/cd1/one.bin: %d, %d bytes unequal to the file's %d", code, len(b), len(s.first))
	}
}

// TestServedOnBoth: the control socket and the web server answer every route of the status
// API from the same model; the socket describes files by their paths in the torrent, the
// web server by their paths in the mount, with URLs.
func TestServedOnBoth(t *testing.T) {
	s := serve(t)
	s.readFirst(t)
	length := int64(len(s.first) + len(s.second))

	for _, side := range []struct {
		name string
		c    *http.Client
		base string
		path []string // the files' paths
		url  []string
	}{
		{"control", s.control, s.controlBase, []string{"cd1/one.bin", "two.bin"}, []string{"", ""}},
		{"web", s.web, s.webBase, []string{"album/cd1/one.bin", "album/two.bin"}, []string{"/files/album/cd1/one.bin", "/files/album/two.bin"}},
	} {
		t.Run(side.name, func(t *testing.T) {
			wantPieces := int((length + pieceLen - 1) / pieceLen)
			if side.name == "web" { // the socket's own routes name paths of this machine
				for _, route := range []string{"/torrents", "/status"} {
					if code, _ := do(t, side.c, http.MethodGet, side.base+route, nil); code != http.StatusNotFound {
						t.Errorf("GET %s on the web server: %d, want 404", route, code)
					}
				}
			} else {
				var list []library.Info
				getJSON(t, side.c, side.base+"/torrents", http.StatusOK, &list)
				if len(list) != 1 || list[0].Name != "album" || list[0].InfoHash != s.swarm.InfoHash || list[0].Length != length ||
					list[0].Cached < int64(len(s.first)) || list[0].Source != s.swarm.TorrentPath {
					t.Errorf("/torrents: %+v", list)
				}

				var r status.Report
				getJSON(t, side.c, side.base+"/status", http.StatusOK, &r)
				if r.CacheDir != s.cacheDir || r.CacheLimit != 256<<20 || r.CacheUsed <= 0 || len(r.Torrents) != 1 {
					t.Fatalf("/status: %+v", r)
				}
				one := r.Torrents[0]
				if one.Pieces != wantPieces || len(one.PieceMap) != wantPieces || one.PieceLength != pieceLen || one.Downloaded < int64(len(s.first)) ||
					one.FirstContact == nil || one.Started() == "" {
					t.Errorf("/status: %+v", one)
				}
				if !strings.HasPrefix(one.PieceMap, strings.Repeat(string(fetch.PieceCached), len(s.first)/pieceLen)) {
					t.Errorf("/status: the first file's pieces are not cached: %q", one.PieceMap)
				}
				checkFiles(t, "/status", one.Files, side.path, side.url, []int64{int64(len(s.first)), int64(len(s.second))})
				if one.Files[0].Cached != int64(len(s.first)) || one.Files[0].FirstPiece != 0 || one.Files[1].EndPiece != wantPieces {
					t.Errorf("/status: files %+v", one.Files)
				}
			}

			var ts []status.Torrent
			getJSON(t, side.c, side.base+"/api/torrents", http.StatusOK, &ts)
			if len(ts) != 1 || ts[0].InfoHash != s.swarm.InfoHash || ts[0].PieceMap != "" || ts[0].PeerList != nil || ts[0].Pieces != wantPieces {
				t.Errorf("/api/torrents: %+v", ts)
			}
			if len(ts) == 1 {
				checkFiles(t, "/api/torrents", ts[0].Files, side.path, side.url, []int64{int64(len(s.first)), int64(len(s.second))})
			}

			for _, key := range []string{s.swarm.InfoHash, "album"} {
				var byKey status.Torrent
				getJSON(t, side.c, side.base+"/api/torrents/"+key, http.StatusOK, &byKey)
				if byKey.InfoHash != s.swarm.InfoHash || len(byKey.PieceMap) != wantPieces {
					t.Errorf("/api/torrents/%s: %+v", key, byKey)
				}
			}
			var e status.Error
			getJSON(t, side.c, side.base+"/api/torrents/nothing", http.StatusNotFound, &e)
			if !strings.Contains(e.Error, "nothing") {
				t.Errorf("/api/torrents/nothing: %+v", e)
			}
		})
	}
}

func checkFiles(t *testing.T, route string, fs []status.File, paths, urls []string, lengths []int64) {
	t.Helper()
	if len(fs) != len(paths) {
		t.Fatalf("%s: files %+v, want %q", route, fs, paths)
	}
	for k, f := range fs {
		if f.Path != paths[k] || f.URL != urls[k] || f.Length != lengths[k] {
			t.Errorf("%s: file %d is %+v, want %s at %q, %d bytes", route, k, f, paths[k], urls[k], lengths[k])
		}
	}
}

// TestFieldNames pins the JSON names that `status --json` users and the page's scripts read.
func TestFieldNames(t *testing.T) {
	s := serve(t)
	s.readFirst(t)
	var r map[string]any
	getJSON(t, s.control, s.controlBase+"/status", http.StatusOK, &r)
	for _, k := range []string{"torrents", "cache_used", "cache_limit", "cache_dir"} {
		if _, ok := r[k]; !ok {
			t.Errorf("/status has no %q: %v", k, r)
		}
	}
	ts, _ := r["torrents"].([]any)
	if len(ts) != 1 {
		t.Fatalf("/status: torrents %v", r["torrents"])
	}
	tr := ts[0].(map[string]any)
	for _, k := range []string{"name", "infohash", "source", "length", "cached", "read", "peers", "known_peers", "seeders",
		"downloaded", "uploaded", "download_rate", "upload_rate", "read_rate", "ratio", "evicted", "hash_failures",
		"piece_length", "first_contact", "pieces", "piece_map", "peer_list", "files"} {
		if _, ok := tr[k]; !ok {
			t.Errorf("a torrent of /status has no %q: %v", k, tr)
		}
	}
	files, _ := tr["files"].([]any)
	if len(files) != 2 {
		t.Fatalf("/status: files %v", tr["files"])
	}
	var keys []string
	for k := range files[0].(map[string]any) {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"cached", "end_piece", "first_piece", "length", "path"}; !slices.Equal(keys, want) {
		t.Errorf("a file of /status on the control socket has %q, want %q", keys, want)
	}
}

// TestOrders: the control socket adds and removes torrents; the web server takes no orders.
func TestOrders(t *testing.T) {
	s := serve(t)
	other := fetchtest.NewSwarm(t, "other.bin", []fetchtest.File{{Data: fetchtest.Payload(pieceLen+1, 3)}}, pieceLen)

	body := func() io.Reader {
		b, _ := json.Marshal(status.AddRequest{Sources: []string{other.TorrentPath, filepath.Join(t.TempDir(), "none.torrent")}})
		return bytes.NewReader(b)
	}
	if code, _ := do(t, s.web, http.MethodPost, s.webBase+"/torrents", body()); code != http.StatusNotFound {
		t.Errorf("POST /torrents on the web server: %d, want 404", code)
	}
	if code, _ := do(t, s.web, http.MethodDelete, s.webBase+"/torrents?key=album", nil); code != http.StatusNotFound {
		t.Errorf("DELETE /torrents on the web server: %d, want 404", code)
	}

	code, b := do(t, s.control, http.MethodPost, s.controlBase+"/torrents", body())
	var res []status.Result
	if err := json.Unmarshal(b, &res); err != nil || code != http.StatusOK || len(res) != 2 ||
		res[0].Source != other.TorrentPath || res[0].Error != "" || res[1].Error == "" {
		t.Fatalf("POST /torrents: %d %v:\n%s", code, err, b)
	}
	var list []library.Info
	getJSON(t, s.control, s.controlBase+"/torrents", http.StatusOK, &list)
	if len(list) != 2 || list[0].Name != "album" || list[1].Name != "other.bin" {
		t.Errorf("/torrents after adding: %+v", list)
	}

	code, b = do(t, s.control, http.MethodDelete, s.controlBase+"/torrents?key=other.bin&purge=1", nil)
	var one status.Result
	if err := json.Unmarshal(b, &one); err != nil || code != http.StatusOK || one.Source != "other.bin" || one.Error != "" {
		t.Errorf("DELETE /torrents?key=other.bin: %d %v:\n%s", code, err, b)
	}
	code, b = do(t, s.control, http.MethodDelete, s.controlBase+"/torrents?key=other.bin", nil)
	if err := json.Unmarshal(b, &one); err != nil || code != http.StatusNotFound || one.Error == "" {
		t.Errorf("DELETE /torrents?key=other.bin again: %d %v:\n%s", code, err, b)
	}
	getJSON(t, s.control, s.controlBase+"/torrents", http.StatusOK, &list)
	if len(list) != 1 || list[0].Name != "album" {
		t.Errorf("/torrents after removing: %+v", list)
	}
	var ts []status.Torrent
	getJSON(t, s.web, s.webBase+"/api/torrents", http.StatusOK, &ts)
	if len(ts) != 1 {
		t.Errorf("/api/torrents on the web after removing: %+v", ts)
	}
}
