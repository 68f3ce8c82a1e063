package dlna_test

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/dlna"
	"github.com/torrentfs/torrentfs/engine"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/internal/testnet"
	"github.com/torrentfs/torrentfs/web"
)

// TestMain runs the tests in a network namespace of their own when run as root (see
// testnet): they make an interface and answer SSDP on it.
func TestMain(m *testing.M) {
	testnet.Isolate()
	os.Exit(m.Run())
}

// testInterface makes a veth pair, whose end called name has the address ip/24 (there is
// no dummy interface module in every kernel).
func testInterface(t *testing.T, name, ip string) net.Interface {
	t.Helper()
	for _, args := range [][]string{
		{"link", "add", name, "type", "veth", "peer", "name", name + "p"},
		{"addr", "add", ip + "/24", "dev", name},
		{"link", "set", name + "p", "up"},
		{"link", "set", name, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s (the test needs root: run it as make test does)", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
	ifs, err := dlna.Interfaces([]string{name})
	if err != nil {
		t.Fatal(err)
	}
	return ifs[0]
}

// hugeTorrent writes a torrent of n one-byte files in one folder; it is never downloaded.
func hugeTorrent(t *testing.T, n int) string {
	info := metainfo.Info{Name: "huge", PieceLength: 1 << 20}
	for i := range n {
		info.Files = append(info.Files, metainfo.FileInfo{Path: []string{"d", fmt.Sprintf("%06d.mp3", i)}, Length: 1})
	}
	for range (n + 1<<20 - 1) / (1 << 20) {
		info.Pieces = append(info.Pieces, make([]byte, 20)...)
	}
	ib, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "huge.torrent")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := (&metainfo.MetaInfo{InfoBytes: ib}).Write(f); err != nil {
		t.Fatal(err)
	}
	return p
}

// search sends an M-SEARCH for a media server out of ifi and returns the LOCATION of the
// first answer.
func search(t *testing.T, ifi net.Interface, ip string) string {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: urn:schemas-upnp-org:device:MediaServer:1\r\n\r\n"
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.WriteToUDP([]byte(msg), &net.UDPAddr{IP: net.IPv4(239, 255, 255, 250), Port: 1900}); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 2048)
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			continue // none within a second: search again
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(buf[:n])), nil)
		if err != nil {
			t.Fatalf("answer %q: %v", buf[:n], err)
		}
		return resp.Header.Get("Location")
	}
	t.Fatalf("no answer to M-SEARCH on %s in 20 s", ifi.Name)
	return ""
}

// browse posts a Browse of the folder id and returns NumberReturned and TotalMatches and
// the titles of the items.
func browse(t *testing.T, ctl, id string, start, count int) (int, int, []string) {
	return browseAs(t, ctl, id, start, count, `"urn:schemas-upnp-org:service:ContentDirectory:1#Browse"`)
}

// browseAs is browse with the SOAPACTION header soapAction.
func browseAs(t *testing.T, ctl, id string, start, count int, soapAction string) (int, int, []string) {
	t.Helper()
	body := fmt.Sprintf(`<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:Browse xmlns:u="urn:schemas-upnp-org:service:ContentDirectory:1"><ObjectID>%s</ObjectID><BrowseFlag>BrowseDirectChildren</BrowseFlag><Filter>*</Filter><StartingIndex>%d</StartingIndex><RequestedCount>%d</RequestedCount><SortCriteria></SortCriteria></u:Browse></s:Body></s:Envelope>`, id, start, count)
	req, _ := http.NewRequest("POST", ctl, strings.NewReader(body))
	req.Header.Set("SOAPACTION", soapAction)
	req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("Browse %s: %s\n%s", id, resp.Status, b)
	}
	var env struct {
		Result         string `xml:"Body>BrowseResponse>Result"`
		NumberReturned int    `xml:"Body>BrowseResponse>NumberReturned"`
		TotalMatches   int    `xml:"Body>BrowseResponse>TotalMatches"`
	}
	if err := xml.Unmarshal(b, &env); err != nil {
		t.Fatalf("Browse %s: %v\n%s", id, err, b)
	}
	var d struct {
		Items []string `xml:"item>title"`
	}
	if err := xml.Unmarshal([]byte(env.Result), &d); err != nil {
		t.Fatalf("DIDL-Lite: %v", err)
	}
	return env.NumberReturned, env.TotalMatches, d.Items
}

// TestBrowseHugeFolder: a folder of 10,000 files is browsed in pages of at most
// DefaultMaxPage, whatever RequestedCount asks (0 is everything), and the pages meet. (Not
// 100,000: adding such a torrent takes the engine most of a minute under -race.)
func TestBrowseHugeFolder(t *testing.T) {
	const n = 10_000
	ifi := testInterface(t, "tfsdl0", "10.55.0.1")
	e, err := engine.Open(t.Context(), engine.Config{
		CacheDir:     t.TempDir(),
		CacheMaxSize: 256 << 20,
		Client:       fetchtest.Loopback(fetch.Config{}),
		Sources:      []string{hugeTorrent(t, n)},
		HTTP:         &engine.HTTPConfig{Addr: "10.55.0.1:0", Options: web.Options{User: "u", Password: "p"}},
		DLNA:         &engine.DLNAConfig{FriendlyName: "huge", Interfaces: []net.Interface{ifi}},
		Logger:       fetchtest.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	loc := search(t, ifi, "10.55.0.1")
	ctl := strings.TrimSuffix(loc, "/device.xml") + "/ctl/ContentDirectory"
	got, total, titles := browse(t, ctl, "0/huge/d", 0, 0)
	if got != dlna.DefaultMaxPage || total != n || len(titles) != got || titles[0] != "000000.mp3" {
		t.Fatalf("RequestedCount 0: %d of %d (%d titles)", got, total, len(titles))
	}
	// Some players send SOAPACTION without its quotes.
	if got, total, _ = browseAs(t, ctl, "0/huge/d", 0, 5000, "urn:schemas-upnp-org:service:ContentDirectory:1#Browse"); got != dlna.DefaultMaxPage || total != n {
		t.Fatalf("RequestedCount 5000: %d of %d", got, total)
	}
	got, _, titles = browse(t, ctl, "0/huge/d", n-10, 0)
	if got != 10 || titles[0] != fmt.Sprintf("%06d.mp3", n-10) {
		t.Fatalf("the last page: %d, %v", got, titles)
	}
	// Without the token, the same server wants the password.
	resp, err := http.Get(strings.Replace(loc, "/dlna/", "/dlna/0", 1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong token: %s", resp.Status)
	}
}
