package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// lan is a test network of two hosts: this test's network namespace (the server) and a
// client namespace, joined by a veth pair, with a multicast route on both ends.
type lan struct {
	ns       string // the client's network namespace, for ip netns exec
	serverIP string
	clientIP string
	ifname   string // the server's end
}

// newLAN makes a lan with names and a /24 of its own, removed when the test ends.
func newLAN(t *testing.T) *lan {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	id := hex.EncodeToString(b)
	net3 := fmt.Sprintf("10.%d.%d", 100+b[0]%100, b[1])
	l := &lan{ns: "tfs-dlna-" + id, serverIP: net3 + ".1", clientIP: net3 + ".2", ifname: "dls" + id}
	peer := "dlc" + id
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", l.ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", l.ns).Run() })
	ip("link", "add", l.ifname, "type", "veth", "peer", "name", peer, "netns", l.ns)
	t.Cleanup(func() { exec.Command("ip", "link", "del", l.ifname).Run() })
	ip("addr", "add", l.serverIP+"/24", "dev", l.ifname)
	ip("link", "set", l.ifname, "up")
	ip("route", "add", "239.0.0.0/8", "dev", l.ifname)
	ip("-n", l.ns, "link", "set", "lo", "up")
	ip("-n", l.ns, "addr", "add", l.clientIP+"/24", "dev", peer)
	ip("-n", l.ns, "link", "set", peer, "up")
	ip("-n", l.ns, "route", "add", "239.0.0.0/8", "dev", peer)
	return l
}

// run runs a program on the client host and returns its standard output.
func (l *lan) run(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.ns}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("on the client: %s: %v\n%s%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String()
}

// dlnaClientDir holds the control point of testdata/dlna-client, whose npm packages make
// deps installs (npm ci).
const dlnaClientDir = "testdata/dlna-client"

// controlPoint runs the control point (client.js) on the client host with args and
// returns the JSON objects it prints.
func (l *lan) controlPoint(t *testing.T, args ...string) []map[string]string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dlnaClientDir, "node_modules", "upnp-device-client")); err != nil {
		t.Fatalf("the DLNA control point's npm packages are missing: run make deps (npm ci in cmd/torrentfs/%s)", dlnaClientDir)
	}
	out := l.run(t, append([]string{"node", filepath.Join(dlnaClientDir, "client.js")}, args...)...)
	var r []map[string]string
	for line := range strings.Lines(out) {
		m := map[string]string{}
		var raw map[string]any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("control point printed %q: %v", line, err)
		}
		for k, v := range raw {
			m[k] = fmt.Sprint(v)
		}
		r = append(r, m)
	}
	return r
}

// discover has the control point search for media servers for up to 20 s and returns the
// first one's description URL.
func (l *lan) discover(t *testing.T) string {
	t.Helper()
	found := l.controlPoint(t, "discover", "urn:schemas-upnp-org:device:MediaServer:1", "20000")
	if len(found) == 0 {
		t.Fatal("the control point found no media server in 20 s")
	}
	return found[0]["location"]
}

// didl is a DIDL-Lite document as a player reads it.
type didl struct {
	Containers []struct {
		ID         string `xml:"id,attr"`
		ParentID   string `xml:"parentID,attr"`
		ChildCount int    `xml:"childCount,attr"`
		Title      string `xml:"title"`
		Class      string `xml:"class"`
	} `xml:"container"`
	Items []didlItem `xml:"item"`
}

type didlItem struct {
	ID       string `xml:"id,attr"`
	ParentID string `xml:"parentID,attr"`
	Title    string `xml:"title"`
	Class    string `xml:"class"`
	Res      []struct {
		ProtocolInfo string `xml:"protocolInfo,attr"`
		Size         int64  `xml:"size,attr"`
		URL          string `xml:",chardata"`
	} `xml:"res"`
	Caption string `xml:"CaptionInfoEx"`
}

// browse calls Browse through the control point; it returns the objects, NumberReturned
// and TotalMatches.
func (l *lan) browse(t *testing.T, location, id, flag string, start, count int) (didl, int, int) {
	t.Helper()
	r := l.controlPoint(t, "browse", location, id, flag, strconv.Itoa(start), strconv.Itoa(count))
	if len(r) != 1 {
		t.Fatalf("Browse %s printed %v", id, r)
	}
	var d didl
	if err := xml.Unmarshal([]byte(r[0]["Result"]), &d); err != nil {
		t.Fatalf("Browse %s: DIDL-Lite %q: %v", id, r[0]["Result"], err)
	}
	n, _ := strconv.Atoi(r[0]["NumberReturned"])
	total, _ := strconv.Atoi(r[0]["TotalMatches"])
	if n != len(d.Containers)+len(d.Items) {
		t.Fatalf("Browse %s: NumberReturned %d, %d objects", id, n, len(d.Containers)+len(d.Items))
	}
	return d, n, total
}

// containerID returns the ID of the container titled title in d.
func (d didl) containerID(t *testing.T, title string) (string, int) {
	t.Helper()
	for _, c := range d.Containers {
		if c.Title == title {
			return c.ID, c.ChildCount
		}
	}
	t.Fatalf("no container %q in %+v", title, d)
	return "", 0
}

// mediaFiles makes small real media files with ffmpeg: a 5 s film with its subtitles, and a
// clip, songs and a photo of each kind a TV is given.
func mediaFiles(t *testing.T) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	ff := func(out string, args ...string) {
		t.Helper()
		ffmpeg(t, append(args, filepath.Join(dir, out))...)
	}
	ff("film.mp4", "-f", "lavfi", "-i", "testsrc=duration=5:size=320x240:rate=25", "-c:v", "mpeg4", "-q:v", "5")
	ff("clip.mkv", "-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=25", "-c:v", "mpeg4")
	ff("clip.avi", "-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=25", "-c:v", "mpeg4")
	ff("song.mp3", "-f", "lavfi", "-i", "sine=duration=1")
	ff("song.flac", "-f", "lavfi", "-i", "sine=duration=1")
	ff("photo.jpg", "-f", "lavfi", "-i", "testsrc=size=160x120", "-frames:v", "1")
	files := map[string][]byte{
		"film.srt":  []byte("1\n00:00:01,000 --> 00:00:03,000\nHello\n"),
		"notes.txt": []byte("not media\n"),
	}
	for _, n := range []string{"film.mp4", "clip.mkv", "clip.avi", "song.mp3", "song.flac", "photo.jpg"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		files[n] = b
	}
	for i := range 7 {
		files[fmt.Sprintf("many/t%d.mp3", i)] = files["song.mp3"]
	}
	return files
}

// serveDLNA starts serve with --dlna and --http on the server's address of l, with a
// password, and returns the process, its @NAME and the HTTP base URL.
func serveDLNA(t *testing.T, l *lan, extra []string, peers []string, sources ...string) (*proc, string, string) {
	t.Helper()
	name := serveName(t)
	auth := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(auth, []byte("u:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://%s:%d", l.serverIP, freePort(t))
	args := []string{"serve", "--name", name, "--cache-dir", t.TempDir(), "--http", strings.TrimPrefix(base, "http://"), "--http-auth-file", auth}
	args = append(args, extra...)
	for _, p := range peers {
		args = append(args, "--peer", p)
	}
	p := noFUSE(t, append(append(args, sources...), loopback...)...)
	p.waitReady(t)
	return p, "@" + name, base
}

// TestDLNA serves a torrent of media to a real UPnP control point (node-ssdp and
// upnp-device-client from npm) on another host of a test network: it discovers the server
// by multicast, browses by torrent and folder to the film, and ffprobe reads the film's
// duration from its res URL, with no password though the HTTP server has one. Each kind of
// file has its MIME type and DLNA protocolInfo, the subtitles go with the film, a folder
// is paged, and torrents added and removed come and go.
func TestDLNA(t *testing.T) {
	files := mediaFiles(t)
	tor, addr, src := multiSwarm(t, "films", files)
	extra, _, extraAddr := swarm(t, "extra.mp3", 100<<10+1)
	l := newLAN(t)
	p, ref, base := serveDLNA(t, l, []string{"--dlna", "--dlna-name", "Test Library"}, []string{addr, extraAddr}, tor)

	loc := l.discover(t)
	u, err := url.Parse(loc)
	if err != nil || u.Hostname() != l.serverIP || !strings.HasPrefix(base, "http://"+u.Host) {
		t.Fatalf("LOCATION %q: want the --http address %s", loc, base)
	}
	desc := l.controlPoint(t, "describe", loc)
	if len(desc) != 1 || desc[0]["friendlyName"] != "Test Library" || desc[0]["deviceType"] != "urn:schemas-upnp-org:device:MediaServer:1" ||
		!strings.Contains(desc[0]["services"], "urn:upnp-org:serviceId:ContentDirectory") {
		t.Fatalf("description: %v", desc)
	}

	root, _, total := l.browse(t, loc, "0", "BrowseDirectChildren", 0, 0)
	if total != 1 {
		t.Fatalf("root: TotalMatches %d, want 1: %+v", total, root)
	}
	filmsID, count := root.containerID(t, "films")
	d, _, _ := l.browse(t, loc, filmsID, "BrowseDirectChildren", 0, 0)
	want := map[string]string{ // title: protocolInfo
		"film.mp4":  "http-get:*:video/mp4:DLNA.ORG_OP=01;DLNA.ORG_CI=0;DLNA.ORG_FLAGS=01700000000000000000000000000000",
		"clip.mkv":  "http-get:*:video/x-matroska:DLNA.ORG_OP=01;DLNA.ORG_CI=0;DLNA.ORG_FLAGS=01700000000000000000000000000000",
		"clip.avi":  "http-get:*:video/x-msvideo:DLNA.ORG_OP=01;DLNA.ORG_CI=0;DLNA.ORG_FLAGS=01700000000000000000000000000000",
		"song.mp3":  "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3;DLNA.ORG_OP=01;DLNA.ORG_CI=0;DLNA.ORG_FLAGS=01700000000000000000000000000000",
		"song.flac": "http-get:*:audio/flac:DLNA.ORG_OP=01;DLNA.ORG_CI=0;DLNA.ORG_FLAGS=01700000000000000000000000000000",
		"photo.jpg": "http-get:*:image/jpeg:DLNA.ORG_OP=01;DLNA.ORG_CI=0;DLNA.ORG_FLAGS=00F00000000000000000000000000000",
	}
	if len(d.Items) != len(want) || count != len(want)+1 {
		t.Fatalf("films: %d items (childCount %d), want %d and the folder many: %+v", len(d.Items), count, len(want), d)
	}
	var film didlItem
	for _, it := range d.Items {
		if it.Res[0].ProtocolInfo != want[it.Title] || it.Res[0].Size != int64(len(files[it.Title])) || it.ParentID != filmsID {
			t.Errorf("%s: protocolInfo %q, size %d, parent %q; want %q, %d, %q", it.Title, it.Res[0].ProtocolInfo, it.Res[0].Size, it.ParentID, want[it.Title], len(files[it.Title]), filmsID)
		}
		if it.Title == "film.mp4" {
			film = it
		}
	}
	if len(film.Res) != 2 || film.Res[1].ProtocolInfo != "http-get:*:text/srt:*" || film.Caption != film.Res[1].URL || film.Class != "object.item.videoItem" {
		t.Fatalf("film.mp4 without its subtitles: %+v", film)
	}
	if got := l.run(t, "curl", "-sf", film.Res[1].URL); got != string(files["film.srt"]) {
		t.Fatalf("the subtitles' res: %q", got)
	}
	// A Samsung player asks for them with the film's own request.
	if hdr := l.run(t, "curl", "-sf", "-o", "/dev/null", "-D", "-", "-H", "getCaptionInfo.sec: 1", film.Res[0].URL); !strings.Contains(strings.ToLower(hdr), strings.ToLower("CaptionInfo.sec: "+film.Res[1].URL+"\r\n")) {
		t.Fatalf("the film's headers name no subtitles (CaptionInfo.sec: %s):\n%q", film.Res[1].URL, hdr)
	}

	// The res URL, as a TV plays it: no password.
	probe := func(in string) string {
		return strings.TrimSpace(l.run(t, "ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", in))
	}
	if got, want := probe(film.Res[0].URL), probe(filepath.Join(src, "films", "film.mp4")); got != want || got == "" {
		t.Fatalf("ffprobe of the film's res URL: duration %q, of the source %q", got, want)
	}
	// The rest of the server still wants it, and so does the DLNA path from elsewhere.
	if code := l.run(t, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", base+"/files/films/film.mp4"); code != "401" {
		t.Fatalf("/files/ without a password from the LAN: %s", code)
	}
	if out, _ := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--interface", "127.0.0.1", film.Res[0].URL).Output(); string(out) != "401" {
		t.Fatalf("the film's res URL from outside the LAN's subnet, without a password: %s", out)
	}

	// A folder is paged.
	manyID, n := d.containerID(t, "many")
	if n != 7 {
		t.Fatalf("many: childCount %d", n)
	}
	for _, pg := range []struct{ start, count, n int }{{0, 3, 3}, {3, 3, 3}, {6, 3, 1}, {9, 3, 0}} {
		page, got, total := l.browse(t, loc, manyID, "BrowseDirectChildren", pg.start, pg.count)
		if got != pg.n || total != 7 || (got > 0 && page.Items[0].Title != fmt.Sprintf("t%d.mp3", pg.start)) {
			t.Fatalf("many from %d, %d: %d returned of %d: %+v", pg.start, pg.count, got, total, page)
		}
	}
	md, got, _ := l.browse(t, loc, film.ID, "BrowseMetadata", 0, 0)
	if got != 1 || len(md.Items) != 1 || md.Items[0].Res[0].URL != film.Res[0].URL {
		t.Fatalf("BrowseMetadata of the film: %+v", md)
	}

	// Torrents come and go.
	if code, out, errOut := torrentfs(t, nil, "add", ref, extra); code != 0 {
		t.Fatalf("add: exit %d, %q %q", code, out, errOut)
	}
	if root, _, total = l.browse(t, loc, "0", "BrowseDirectChildren", 0, 0); total != 2 || len(root.Items) != 1 || root.Items[0].Title != "extra.mp3" {
		t.Fatalf("root after add: %d: %+v", total, root)
	}
	if code, out, errOut := torrentfs(t, nil, "remove", ref, "extra.mp3"); code != 0 {
		t.Fatalf("remove: exit %d, %q %q", code, out, errOut)
	}
	if root, _, total = l.browse(t, loc, "0", "BrowseDirectChildren", 0, 0); total != 1 || len(root.Items) != 0 {
		t.Fatalf("root after remove: %d: %+v", total, root)
	}
	if code := p.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("serve --dlna after Ctrl-C: exit %d", code)
	}
}

// TestDLNAOff: without --dlna nothing answers the control point's M-SEARCH; mount --http
// --dlna on the same network then does, so the search was one that would have been
// answered.
func TestDLNAOff(t *testing.T) {
	tor, _, addr := swarm(t, "off.mp4", 50<<10)
	l := newLAN(t)
	serveDLNA(t, l, nil, []string{addr}, tor)
	if found := l.controlPoint(t, "discover", "ssdp:all", "3000"); len(found) != 0 {
		t.Fatalf("without --dlna, answers to M-SEARCH: %v", found)
	}

	auth := filepath.Join(t.TempDir(), "auth")
	os.WriteFile(auth, []byte("u:secret\n"), 0o600)
	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--peer", addr, "--http", fmt.Sprintf("%s:%d", l.serverIP, freePort(t)),
		"--http-auth-file", auth, "--dlna", "--dlna-interface", l.ifname, tor, mnt}, loopback...)...)
	m.waitReady(t)
	loc := l.discover(t)
	root, _, _ := l.browse(t, loc, "0", "BrowseDirectChildren", 0, 0)
	if len(root.Items) != 1 || root.Items[0].Title != "off.mp4" || !strings.Contains(root.Items[0].Res[0].ProtocolInfo, "video/mp4") {
		t.Fatalf("mount --dlna: root %+v", root)
	}
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount --dlna after Ctrl-C: exit %d", code)
	}
}

// TestDLNAFlags: --dlna without a reachable --http, and its other flags without it, are
// usage errors that say what to do.
func TestDLNAFlags(t *testing.T) {
	tor, _, _ := swarm(t, "f.bin", 1<<10)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--dlna"}, "--dlna needs --http"},
		{[]string{"--dlna", "--http", "8080"}, "loopback only"},
		{[]string{"--dlna", "--http", "127.0.0.1:8080"}, "loopback only"},
		{[]string{"--dlna-name", "x"}, "need --dlna"},
		{[]string{"--dlna", "--http", "0.0.0.0:0", "--http-auth", "u:p", "--dlna-interface", "nosuch0"}, "nosuch0"},
	} {
		args := append(append([]string{"mount", "--cache-dir", t.TempDir()}, tc.args...), tor, t.TempDir())
		code, _, errOut := torrentfs(t, nil, args...)
		if code != 2 && !strings.Contains(tc.want, "nosuch") || code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, errOut, tc.want)
		}
	}
}
