package dlna

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"golang.org/x/net/ipv4"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/fs"
)

// fuzzServer returns a server of a real tree (fs, of a dormant torrent with media files,
// subtitles and names XML must escape) whose pages hold at most 3 objects. It has no SSDP
// socket: the fuzz targets call its handler and its M-SEARCH parser directly.
func fuzzServer(f *testing.F) *Server {
	f.Helper()
	info := metainfo.Info{Name: "films", PieceLength: 1 << 14}
	for _, p := range [][]string{{"Film.mkv"}, {"Film.srt"}, {"a <&> \"b\".mp4"}, {"music", "song.mp3"},
		{"music", "song.flac"}, {"music", "cover.jpg"}, {"music", "notes.txt"}, {"x", "y", "z.avi"}} {
		info.Files = append(info.Files, metainfo.FileInfo{Path: p, Length: 100})
	}
	info.Pieces = make([]byte, 20)
	ib, err := bencode.Marshal(info)
	if err != nil {
		f.Fatal(err)
	}
	mi := &metainfo.MetaInfo{InfoBytes: ib}
	c := fetchtest.NewClient(f, fetch.Config{Storage: storage.NewFile(f.TempDir())}) // never opened: the torrent stays dormant
	t, err := c.AddDormant(filepath.Join(f.TempDir(), "films.torrent"), mi, fetch.AddOptions{}, nil)
	if err != nil {
		f.Fatal(err)
	}
	m := fs.NewUnmounted(fs.Options{})
	if _, err := m.Add("films", t); err != nil {
		f.Fatal(err)
	}
	return &Server{tree: m, opts: Options{FriendlyName: "fuzz", MaxPage: 3, HTTPAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}},
		log: slog.New(slog.DiscardHandler), prefix: "/dlna/fuzz", uuid: "uuid:fuzz",
		nets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
}

// browseBody is a Browse request as players send it.
func browseBody(id, flag, start, count string) []byte {
	return []byte(`<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:Browse xmlns:u="urn:schemas-upnp-org:service:ContentDirectory:1"><ObjectID>` +
		id + `</ObjectID><BrowseFlag>` + flag + `</BrowseFlag><Filter>*</Filter><StartingIndex>` + start +
		`</StartingIndex><RequestedCount>` + count + `</RequestedCount><SortCriteria></SortCriteria></u:Browse></s:Body></s:Envelope>`)
}

// wellFormed reports whether b is well-formed XML.
func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		if _, err := d.Token(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// FuzzControl posts SOAP requests to the control URL of a service, with any SOAPACTION
// and Host headers and body: the server answers 200 with a well-formed envelope (a Browse's Result
// well-formed DIDL-Lite of at most a page), or a 4xx, or a well-formed UPnP fault with 500,
// or the mux's redirect of an unclean path; it never panics.
func FuzzControl(f *testing.F) {
	s := fuzzServer(f)
	h := s.Handler(http.NotFoundHandler())
	browse := `"urn:schemas-upnp-org:service:ContentDirectory:1#Browse"`
	for _, c := range []struct {
		service, action, host string
		body                  []byte
	}{
		{"ContentDirectory", browse, "10.0.0.1:8080", browseBody("0", "BrowseDirectChildren", "0", "0")},
		{"ContentDirectory", browse, "a\"<b>&c", browseBody("0/films", "BrowseDirectChildren", "1", "2")},
		{"ContentDirectory", browse, "", browseBody("0/films/Film.mkv", "BrowseMetadata", "0", "1")},
		{"ContentDirectory", browse, "", browseBody("0/films/music", "BrowseDirectChildren", "99999999999", "-1")},
		{"ContentDirectory", browse, "", browseBody("0/../films", "BrowseMetadata", "0", "0")},
		{"ContentDirectory", browse, "", browseBody("0/films/a &lt;&amp;&gt; \"b\".mp4", "BrowseMetadata", "0", "0")},
		{"ContentDirectory", "urn:schemas-upnp-org:service:ContentDirectory:1#GetSystemUpdateID", "", []byte(`<s:Envelope><s:Body><u:GetSystemUpdateID/></s:Body></s:Envelope>`)},
		{"ConnectionManager", `"urn:schemas-upnp-org:service:ConnectionManager:1#GetProtocolInfo"`, "", []byte(`<s:Envelope><s:Body><u:GetProtocolInfo/></s:Body></s:Envelope>`)},
		{"ContentDirectory", `"#"`, "", []byte(`<s:Envelope><s:Body>`)},
		{"ContentDirectory", browse, "", []byte(strings.Repeat("<a>", 10000))},
	} {
		f.Add(c.service, c.action, c.host, c.body)
	}
	f.Fuzz(func(t *testing.T, service, action, host string, body []byte) {
		r := httptest.NewRequest("POST", s.prefix+"/ctl/"+url.PathEscape(service), bytes.NewReader(body))
		r.Header.Set("SOAPACTION", action)
		r.Host = host // the res URLs are made of it
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		out := w.Body.Bytes()
		switch code := w.Code; {
		case code == http.StatusOK || code == http.StatusInternalServerError:
			if err := wellFormed(out); err != nil {
				t.Fatalf("%d: the envelope is not well-formed XML: %v\n%s", code, err, out)
			}
			var env struct {
				Result         *string `xml:"Body>BrowseResponse>Result"`
				NumberReturned int     `xml:"Body>BrowseResponse>NumberReturned"`
			}
			if err := xml.Unmarshal(out, &env); err != nil {
				t.Fatalf("%d: %v\n%s", code, err, out)
			}
			if env.Result != nil {
				if err := wellFormed([]byte(*env.Result)); err != nil {
					t.Fatalf("Result is not well-formed DIDL-Lite: %v\n%s", err, *env.Result)
				}
				if env.NumberReturned > s.opts.MaxPage {
					t.Fatalf("%d objects returned; a page is at most %d", env.NumberReturned, s.opts.MaxPage)
				}
			}
		case code >= 400 && code < 500:
		case code == http.StatusTemporaryRedirect || code == http.StatusPermanentRedirect || code == http.StatusMovedPermanently:
			// net/http's mux sends a path with "." or ".." elements to its clean form.
		default:
			t.Fatalf("status %d\n%s", code, out)
		}
	})
}

// FuzzSearch hands M-SEARCH datagrams to the SSDP server's parser and to its answer, which
// answers on a real socket to a real one (on 127.0.0.1 and .2, in the tests' namespace): it never
// panics, and a datagram it takes for a search has a search target.
func FuzzSearch(f *testing.F) {
	s := fuzzServer(f)
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		f.Fatal(err)
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { pc.Close() })
	to, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { to.Close() })
	ss := &ssdpServer{s: s, conn: ipv4.NewPacketConn(pc), ifs: map[int]net.Interface{lo.Index: *lo}, stop: make(chan struct{})}
	s.ssdp = ss
	for _, d := range []string{
		"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: urn:schemas-upnp-org:device:MediaServer:1\r\n\r\n",
		"M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\nST: ssdp:all\r\n\r\n",
		"M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\nST: " + strings.Repeat("x", 8000) + "\r\n\r\n",
		"M-SEARCH * HTTP/1.1\r\n MAN: continued\r\n\r\n",
		"NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\n\r\n",
		"M-SEARCH * HTTP/9.9\r\n",
		"M-SEARCH *",
		"",
	} {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 8<<10 {
			b = b[:8<<10] // the read buffer's size: a longer datagram is cut there
		}
		st, ok := searchTarget(b)
		if !ok && st != "" {
			t.Fatalf("not a search, yet a target %q", st)
		}
		ss.answer(b, *lo, to.LocalAddr().(*net.UDPAddr))
	})
}
