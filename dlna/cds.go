package dlna

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	dmsdlna "github.com/anacrolix/dms/dlna"
	"github.com/anacrolix/dms/soap"
	"github.com/anacrolix/dms/upnp"
	"github.com/anacrolix/dms/upnpav"

	"github.com/torrentfs/torrentfs/fs"
)

// Object IDs: the root is "0", anything else "0/" and its path in the tree, each element
// path-escaped so that any name survives XML.
const rootID = "0"

func objectID(p string) string {
	if p == "" {
		return rootID
	}
	els := strings.Split(p, "/")
	for i, e := range els {
		els[i] = url.PathEscape(e)
	}
	return rootID + "/" + strings.Join(els, "/")
}

// objectPath is the path of the object id, or false for an ID that is not one of ours.
func objectPath(id string) (string, bool) {
	if id == rootID {
		return "", true
	}
	rest, ok := strings.CutPrefix(id, rootID+"/")
	if !ok {
		return "", false
	}
	els := strings.Split(rest, "/")
	for i, e := range els {
		u, err := url.PathUnescape(e)
		if err != nil || u == "" || u == "." || u == ".." || strings.Contains(u, "/") {
			return "", false
		}
		els[i] = u
	}
	return strings.Join(els, "/"), true
}

func parentID(p string) string { return objectID(dirOf(p)) }

// dirOf is the directory of p in the tree, "" for the root.
func dirOf(p string) string {
	d := path.Dir(p)
	if d == "." || d == "/" {
		return ""
	}
	return d
}

// media is what a player needs to know of a kind of file.
type media struct {
	mime    string
	class   string // upnp:class
	profile string // DLNA.ORG_PN, where the extension alone decides it
}

// The DLNA flags (DLNA.ORG_FLAGS) of audio and video: streaming transfer, background
// transfer, connection stall, DLNA 1.5; and of images: interactive in place of streaming.
const (
	avFlags    = "01700000000000000000000000000000"
	imageFlags = "00F00000000000000000000000000000"
)

// mediaTypes are the files the server lists, by extension. Profiles (DLNA.ORG_PN) are given
// only where the extension fixes them: MP3 is MP3, but an MP4 may hold any of dozens of AVC
// profiles, and a wrong one makes a TV refuse a file it could play.
var mediaTypes = map[string]media{
	".mp4":  {"video/mp4", "object.item.videoItem", ""},
	".m4v":  {"video/mp4", "object.item.videoItem", ""},
	".mkv":  {"video/x-matroska", "object.item.videoItem", ""},
	".avi":  {"video/x-msvideo", "object.item.videoItem", ""},
	".webm": {"video/webm", "object.item.videoItem", ""},
	".mov":  {"video/quicktime", "object.item.videoItem", ""},
	".ts":   {"video/mp2t", "object.item.videoItem", ""},
	".mpg":  {"video/mpeg", "object.item.videoItem", ""},
	".mp3":  {"audio/mpeg", "object.item.audioItem.musicTrack", "MP3"},
	".flac": {"audio/flac", "object.item.audioItem.musicTrack", ""},
	".m4a":  {"audio/mp4", "object.item.audioItem.musicTrack", ""},
	".ogg":  {"audio/ogg", "object.item.audioItem.musicTrack", ""},
	".opus": {"audio/ogg", "object.item.audioItem.musicTrack", ""},
	".wav":  {"audio/wav", "object.item.audioItem.musicTrack", ""},
	".jpg":  {"image/jpeg", "object.item.imageItem.photo", ""},
	".jpeg": {"image/jpeg", "object.item.imageItem.photo", ""},
	".png":  {"image/png", "object.item.imageItem.photo", ""},
}

// srtMIME is the type players take subtitles as, in a video's second res and in
// CaptionInfo.sec.
const srtMIME = "text/srt"

func mediaOf(name string) (media, bool) {
	m, ok := mediaTypes[strings.ToLower(path.Ext(name))]
	return m, ok
}

// protocolInfo is the res protocolInfo of m: HTTP GET, byte ranges, no time seek.
func (m media) protocolInfo() string {
	return "http-get:*:" + m.mime + ":" + m.features()
}

func (m media) features() string {
	f := dmsdlna.ContentFeatures{ProfileName: m.profile, SupportRange: true, Flags: avFlags}
	if strings.HasPrefix(m.mime, "image/") {
		f.Flags = imageFlags
	}
	return f.String()
}

func isVideo(m media) bool { return strings.HasPrefix(m.mime, "video/") }

// subtitles maps a video's name without extension to the .srt files beside it: "Film.srt"
// and "Film.en.srt" both go with "Film.mkv".
func subtitles(es []fs.DirEntry) map[string][]string {
	var r map[string][]string
	for _, e := range es {
		if e.Dir || !strings.EqualFold(path.Ext(e.Name), ".srt") {
			continue
		}
		if r == nil {
			r = map[string][]string{}
		}
		stem := e.Name[:len(e.Name)-len(".srt")]
		r[stem] = append(r[stem], e.Name)
		if i := strings.LastIndexByte(stem, '.'); i > 0 {
			r[stem[:i]] = append(r[stem[:i]], e.Name)
		}
	}
	return r
}

// visible are the entries of a directory the server lists: directories and media files.
func visible(es []fs.DirEntry) []fs.DirEntry {
	r := es[:0:0]
	for _, e := range es {
		if _, ok := mediaOf(e.Name); e.Dir || ok {
			r = append(r, e)
		}
	}
	return r
}

// browseArgs are the arguments of Browse.
type browseArgs struct {
	ObjectID       string
	BrowseFlag     string
	StartingIndex  string
	RequestedCount string
}

// browse answers Browse of the object at p: itself, or a page of its children.
func (s *Server) browse(a browseArgs, base string) ([][2]string, error) {
	p, ok := objectPath(a.ObjectID)
	if !ok {
		return nil, upnp.Errorf(upnpav.NoSuchObjectErrorCode, "no such object")
	}
	start, err1 := strconv.ParseUint(a.StartingIndex, 10, 31)
	count, err2 := strconv.ParseUint(a.RequestedCount, 10, 31)
	if err1 != nil || err2 != nil {
		return nil, upnp.ArgumentValueInvalidError
	}
	var objs []any
	var total int
	switch a.BrowseFlag {
	case "BrowseMetadata":
		e, ok := s.tree.Stat(p)
		if !ok || (!e.Dir && p != "" && !isMedia(e.Name)) {
			return nil, upnp.Errorf(upnpav.NoSuchObjectErrorCode, "no such object")
		}
		var subs []string
		if !e.Dir {
			if des, ok := s.tree.ReadDir(dirOf(p)); ok {
				subs = subtitles(des)[stemOf(e.Name)]
			}
		}
		objs, total = []any{s.object(p, e, subs, base)}, 1
	case "BrowseDirectChildren":
		des, ok := s.tree.ReadDir(p)
		if !ok {
			return nil, upnp.Errorf(upnpav.NoSuchObjectErrorCode, "no such container")
		}
		subs := subtitles(des)
		vis := visible(des)
		total = len(vis)
		if count == 0 || count > uint64(s.opts.MaxPage) {
			count = uint64(s.opts.MaxPage)
		}
		start = min(start, uint64(len(vis)))
		end := min(start+count, uint64(len(vis)))
		for _, e := range vis[start:end] {
			var sub []string
			if !e.Dir {
				sub = subs[stemOf(e.Name)]
			}
			objs = append(objs, s.object(path.Join(p, e.Name), e, sub, base))
		}
	default:
		return nil, upnp.ArgumentValueInvalidError
	}
	didl, err := didlLite(objs)
	if err != nil {
		return nil, err
	}
	return [][2]string{
		{"Result", didl},
		{"NumberReturned", strconv.Itoa(len(objs))},
		{"TotalMatches", strconv.Itoa(total)},
		{"UpdateID", strconv.FormatUint(uint64(s.updateID()), 10)},
	}, nil
}

func isMedia(name string) bool { _, ok := mediaOf(name); return ok }

func stemOf(name string) string { return strings.TrimSuffix(name, path.Ext(name)) }

// updateID is the ContentDirectory's SystemUpdateID: it changes when torrents come and go,
// which is when the root changes. A torrent's own tree never changes.
func (s *Server) updateID() uint32 {
	e, _ := s.tree.Stat("")
	return uint32(e.ModTime.Unix())
}

// object is the DIDL-Lite object of e, at p; subs are the subtitles beside a video. base
// is the scheme and host the player reached the server at.
func (s *Server) object(p string, e fs.DirEntry, subs []string, base string) any {
	title := e.Name
	if p == "" {
		title = s.opts.FriendlyName
	}
	o := upnpav.Object{ID: objectID(p), ParentID: parentID(p), Restricted: 1, Title: title, Date: upnpav.Timestamp{Time: e.ModTime}}
	if p == "" {
		o.ParentID = "-1"
	}
	if e.Dir {
		o.Class = "object.container.storageFolder"
		n := 0
		if des, ok := s.tree.ReadDir(p); ok {
			n = len(visible(des))
		}
		return upnpav.Container{Object: o, ChildCount: n}
	}
	m, _ := mediaOf(e.Name)
	o.Class = m.class
	it := upnpav.Item{Object: o, Res: []upnpav.Resource{{ProtocolInfo: m.protocolInfo(), URL: s.fileURL(base, p), Size: uint64(e.Size)}}}
	if isVideo(m) {
		var extra bytes.Buffer
		for _, sub := range subs {
			u := s.fileURL(base, path.Join(dirOf(p), sub))
			it.Res = append(it.Res, upnpav.Resource{ProtocolInfo: "http-get:*:" + srtMIME + ":*", URL: u})
			extra.WriteString(`<sec:CaptionInfoEx sec:type="srt">`)
			xml.EscapeText(&extra, []byte(u))
			extra.WriteString(`</sec:CaptionInfoEx>`)
		}
		it.InnerXML = extra.String()
	}
	return it
}

// fileURL is the URL of the file at p, under the server's prefix.
func (s *Server) fileURL(base, p string) string {
	return base + s.prefix + (&url.URL{Path: "/files/" + p}).EscapedPath()
}

// didlLite marshals objs as a DIDL-Lite document.
func didlLite(objs []any) (string, error) {
	var b bytes.Buffer
	b.WriteString(`<DIDL-Lite xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:upnp="urn:schemas-upnp-org:metadata-1-0/upnp/" xmlns="urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/" xmlns:dlna="urn:schemas-dlna-org:metadata-1-0/" xmlns:sec="http://www.sec.co.kr/">`)
	enc := xml.NewEncoder(&b)
	for _, o := range objs {
		if err := enc.Encode(o); err != nil {
			return "", err
		}
	}
	b.WriteString(`</DIDL-Lite>`)
	return b.String(), nil
}

// maxSOAPBody bounds a control request: Browse's arguments are a few hundred bytes.
const maxSOAPBody = 64 << 10

// serveControl answers a SOAP action of one of the services.
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	h := r.Header.Get("SOAPACTION")
	if !strings.HasPrefix(h, `"`) { // some players leave the quotes out
		h = `"` + h + `"`
	}
	sa, err := upnp.ParseActionHTTPHeader(h)
	if err != nil {
		http.Error(w, "bad SOAPACTION header", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSOAPBody))
	if err != nil {
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	var env soap.Envelope
	if err := xml.Unmarshal(body, &env); err != nil {
		http.Error(w, "bad SOAP envelope", http.StatusBadRequest)
		return
	}
	base := "http://" + r.Host
	args, err := s.action(r.PathValue("service"), sa, env.Body.Action, base)
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.Header().Set("Ext", "")
	w.Header().Set("Server", serverHeader)
	var out bytes.Buffer
	out.WriteString(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>`)
	code := http.StatusOK
	if err != nil {
		ue, ok := errors.AsType[*upnp.Error](err)
		if !ok {
			ue = upnp.Errorf(upnp.ActionFailedErrorCode, "action failed")
			s.log.Warn("dlna action", "action", sa.Action, "err", err)
		}
		b, _ := xml.Marshal(soap.NewFault("UPnPError", ue))
		out.Write(b)
		code = http.StatusInternalServerError
	} else {
		out.WriteString(`<u:` + sa.Action + `Response xmlns:u="` + sa.ServiceURN.String() + `">`)
		for _, a := range args {
			out.WriteString("<" + a[0] + ">")
			xml.EscapeText(&out, []byte(a[1]))
			out.WriteString("</" + a[0] + ">")
		}
		out.WriteString(`</u:` + sa.Action + `Response>`)
	}
	out.WriteString(`</s:Body></s:Envelope>`)
	w.WriteHeader(code)
	w.Write(out.Bytes())
}

// action runs the action sa of the service called service, with the arguments in argsXML.
func (s *Server) action(service string, sa upnp.SoapAction, argsXML []byte, base string) ([][2]string, error) {
	switch {
	case service == "ContentDirectory" && sa.ServiceURN.String() == contentDirectoryType:
		switch sa.Action {
		case "Browse":
			var a browseArgs
			if err := xml.Unmarshal(argsXML, &a); err != nil {
				return nil, upnp.ArgumentValueInvalidError
			}
			return s.browse(a, base)
		case "GetSystemUpdateID":
			return [][2]string{{"Id", strconv.FormatUint(uint64(s.updateID()), 10)}}, nil
		case "GetSearchCapabilities":
			return [][2]string{{"SearchCaps", ""}}, nil
		case "GetSortCapabilities":
			return [][2]string{{"SortCaps", ""}}, nil
		}
	case service == "ConnectionManager" && sa.ServiceURN.String() == connectionManagerType:
		switch sa.Action {
		case "GetProtocolInfo":
			return [][2]string{{"Source", sourceProtocolInfo()}, {"Sink", ""}}, nil
		case "GetCurrentConnectionIDs":
			return [][2]string{{"ConnectionIDs", "0"}}, nil
		case "GetCurrentConnectionInfo":
			return [][2]string{{"RcsID", "-1"}, {"AVTransportID", "-1"}, {"ProtocolInfo", ""},
				{"PeerConnectionManager", ""}, {"PeerConnectionID", "-1"}, {"Direction", "Output"}, {"Status", "OK"}}, nil
		}
	}
	return nil, upnp.InvalidActionError
}

// sourceProtocolInfo lists the protocolInfo of every kind of file the server lists.
func sourceProtocolInfo() string {
	seen := map[string]bool{}
	var r []string
	for _, ext := range []string{".mp4", ".mkv", ".avi", ".webm", ".mov", ".ts", ".mpg", ".mp3", ".flac", ".m4a", ".ogg", ".wav", ".jpg", ".png"} {
		if pi := mediaTypes[ext].protocolInfo(); !seen[pi] {
			seen[pi] = true
			r = append(r, pi)
		}
	}
	return strings.Join(append(r, "http-get:*:"+srtMIME+":*"), ",")
}

// mediaHeaders sets the DLNA headers of a response with a file: the transfer mode, and the
// content features a player asks for with getcontentFeatures.dlna.org.
func (s *Server) mediaHeaders(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("path")
	m, ok := mediaOf(p)
	if !ok {
		return
	}
	mode := "Streaming"
	if strings.HasPrefix(m.mime, "image/") {
		mode = "Interactive"
	}
	w.Header().Set(dmsdlna.TransferModeDomain, mode)
	if r.Header.Get("getcontentFeatures.dlna.org") != "" {
		w.Header().Set(dmsdlna.ContentFeaturesDomain, m.features())
	}
	// Samsung's players ask for a video's subtitles with each request: a Stat of the usual
	// name first, the folder's listing (of any size) only when that is not there.
	if isVideo(m) && r.Header.Get("getCaptionInfo.sec") != "" {
		dir, stem := dirOf(p), stemOf(path.Base(p))
		if e, ok := s.tree.Stat(path.Join(dir, stem+".srt")); ok && !e.Dir {
			w.Header().Set("CaptionInfo.sec", s.fileURL("http://"+r.Host, path.Join(dir, stem+".srt")))
		} else if des, ok := s.tree.ReadDir(dir); ok {
			if subs := subtitles(des)[stemOf(path.Base(p))]; len(subs) > 0 {
				w.Header().Set("CaptionInfo.sec", s.fileURL("http://"+r.Host, path.Join(dirOf(p), subs[0])))
			}
		}
	}
}
