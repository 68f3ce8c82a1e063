// Package dlna serves the library to TVs and other DLNA players: a UPnP MediaServer whose
// ContentDirectory browses the tree of torrents (by torrent and folder, media files as
// items), announced over SSDP on chosen network interfaces.
//
// The server has no HTTP listener of its own. Handler puts its device description, its
// services' descriptions and controls, and its media under one path on the torrentfs HTTP
// server, /dlna/TOKEN/, where TOKEN is random for each Server: the media are that server's
// /files/ handler (ranges, readahead, verified bytes only), reached through the prefix. A
// TV cannot log in, so Public lets requests for that prefix past HTTP authentication, but
// only from the subnets of the announcing interfaces: whoever is there can hear the SSDP
// announcements, which carry the URL, and so can browse and play anyway. Anyone else needs
// the HTTP server's credentials.
//
// The types, DIDL-Lite and DLNA content features come from github.com/anacrolix/dms. Its
// server is not used: it walks a directory and may run ffprobe and ffmpeg, and its SSDP
// server starts goroutines it never waits for. Eventing (SUBSCRIBE) is not offered:
// players browse again, and GetSystemUpdateID changes as torrents come and go.
//
// The package reads the tree only through Tree; it never adds, removes or opens torrents.
package dlna

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/torrentfs/torrentfs/fs"
)

// Tree is what the server browses: the torrents' tree by path, "" being its root.
type Tree interface {
	// Stat describes the file or directory at p, or reports false.
	Stat(p string) (fs.DirEntry, bool)
	// ReadDir lists the directory at p sorted by name, or reports false.
	ReadDir(p string) ([]fs.DirEntry, bool)
}

var _ Tree = (*fs.Mount)(nil)

// Options configure a Server.
type Options struct {
	// FriendlyName is the name players show. Required.
	FriendlyName string
	// ID makes the device's UUID: the same ID gives the same UUID, so that a TV knows the
	// server again after a restart. FriendlyName if empty.
	ID string
	// Interfaces are where the server is announced and answers searches. Required: see
	// Interfaces.
	Interfaces []net.Interface
	// HTTPAddr is the address of the HTTP server whose Handler chain holds the server's.
	// Announcements name its IP, or, if it listens on every address, the interface's.
	HTTPAddr *net.TCPAddr
	// NotifyInterval is how often the server is announced. DefaultNotifyInterval if zero.
	NotifyInterval time.Duration
	// MaxPage caps the objects one Browse returns. DefaultMaxPage if zero.
	MaxPage int
	// Logger receives the server's log. Nil discards.
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultNotifyInterval = 30 * time.Second
	// DefaultMaxPage bounds the work and the reply of one Browse, which a player asking for
	// everything (RequestedCount 0) of a folder of 100,000 files gets in pages.
	DefaultMaxPage = 500
)

// ErrNoInterfaces is returned by New without an interface to announce on.
var ErrNoInterfaces = errors.New("dlna: no network interface to announce on")

// Server is a UPnP MediaServer of a Tree. Its methods are safe for concurrent use.
type Server struct {
	// Immutable after New.
	tree   Tree
	opts   Options
	log    *slog.Logger
	prefix string // /dlna/TOKEN
	uuid   string // uuid:…
	nets   []netip.Prefix
	ssdp   *ssdpServer
}

// New returns a server of tree and listens for SSDP searches on opts.Interfaces; Start
// begins announcing and answering, and Close stops.
func New(tree Tree, opts Options) (*Server, error) {
	if len(opts.Interfaces) == 0 {
		return nil, ErrNoInterfaces
	}
	if opts.NotifyInterval <= 0 {
		opts.NotifyInterval = DefaultNotifyInterval
	}
	if opts.MaxPage <= 0 {
		opts.MaxPage = DefaultMaxPage
	}
	if opts.ID == "" {
		opts.ID = opts.FriendlyName
	}
	s := &Server{tree: tree, opts: opts, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var token [16]byte
	rand.Read(token[:])
	s.prefix = "/dlna/" + hex.EncodeToString(token[:])
	sum := sha256.Sum256([]byte("torrentfs dlna " + opts.ID))
	sum[6] = sum[6]&0x0f | 0x50 // a name-based UUID, as version 5
	sum[8] = sum[8]&0x3f | 0x80
	s.uuid = fmt.Sprintf("uuid:%x-%x-%x-%x-%x", sum[:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
	for _, ifi := range opts.Interfaces {
		addrs, err := ifi.Addrs()
		if err != nil {
			return nil, fmt.Errorf("dlna: interface %s: %w", ifi.Name, err)
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if p, ok := netipPrefix(n); ok {
					s.nets = append(s.nets, p)
				}
			}
		}
	}
	ss, err := listenSSDP(s)
	if err != nil {
		return nil, err
	}
	s.ssdp = ss
	return s, nil
}

// Start announces the server and answers searches until Close. The HTTP server must be
// serving Handler by then, or be about to: players fetch the description at once.
func (s *Server) Start() {
	s.ssdp.start()
	s.log.Info("dlna", "name", s.opts.FriendlyName, "interfaces", ifNames(s.opts.Interfaces), "udn", s.uuid)
}

// Close says goodbye on every interface, stops answering and waits for the server's
// goroutines. Requests the HTTP server is serving are its own.
func (s *Server) Close() error {
	return s.ssdp.close()
}

// Handler serves the server's paths, /dlna/TOKEN/…, and passes every other request to
// next. The media, /dlna/TOKEN/files/…, are next's /files/…, with the DLNA headers players
// ask for.
func (s *Server) Handler(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+s.prefix+"/device.xml", s.serveDescription)
	mux.HandleFunc("GET "+s.prefix+"/ContentDirectory.xml", serveXML(contentDirectorySCPD))
	mux.HandleFunc("GET "+s.prefix+"/ConnectionManager.xml", serveXML(connectionManagerSCPD))
	mux.HandleFunc("POST "+s.prefix+"/ctl/{service}", s.serveControl)
	files := http.StripPrefix(s.prefix, next)
	mux.HandleFunc("GET "+s.prefix+"/files/{path...}", func(w http.ResponseWriter, r *http.Request) { // and HEAD
		s.mediaHeaders(w, r)
		files.ServeHTTP(w, r)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.ours(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Public reports whether r may be served without the HTTP server's credentials: a request
// for the server's paths from a subnet of its interfaces (see the package doc).
func (s *Server) Public(r *http.Request) bool {
	if !s.ours(r.URL.Path) {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	return s.onLAN(ap.Addr())
}

// onLAN reports whether ip is in a subnet of the server's interfaces.
func (s *Server) onLAN(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, n := range s.nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// host reports whether ip can be one host: not multicast or unspecified, and not the
// network or broadcast address of a subnet of the server's, so that an answer to a forged
// search cannot go to every host of a link.
func (s *Server) host(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.Is4() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, n := range s.nets {
		if !n.Contains(ip) || n.Bits() >= 31 {
			continue
		}
		a, m := ip.As4(), uint32(1)<<(32-n.Bits())-1
		v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		if v&m == 0 || v&m == m {
			return false
		}
	}
	return true
}

// ours reports whether p is under the server's prefix, comparing the token in constant
// time.
func (s *Server) ours(p string) bool {
	if len(p) <= len(s.prefix) || p[len(s.prefix)] != '/' {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(p[:len(s.prefix)]), []byte(s.prefix)) == 1
}

// location is the URL of the device description as announced for the interface address
// ip.
func (s *Server) location(ip netip.Addr) string {
	a := s.opts.HTTPAddr
	host := ip
	if hip, ok := netip.AddrFromSlice(a.IP); ok && !hip.IsUnspecified() {
		host = hip.Unmap()
	}
	return "http://" + netip.AddrPortFrom(host, uint16(a.Port)).String() + s.prefix + "/device.xml"
}

func netipPrefix(n *net.IPNet) (netip.Prefix, bool) {
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones).Masked(), true
}

func ifNames(ifs []net.Interface) string {
	names := make([]string, len(ifs))
	for i, ifi := range ifs {
		names[i] = ifi.Name
	}
	return strings.Join(names, ",")
}

// Interfaces returns the interfaces called names, or, with none, every interface that is
// up, can multicast, is not loopback and has an IPv4 address. An interface named but
// missing, down or unable to multicast is an error.
func Interfaces(names []string) ([]net.Interface, error) {
	const want = net.FlagUp | net.FlagMulticast
	if len(names) > 0 {
		var r []net.Interface
		for _, n := range names {
			ifi, err := net.InterfaceByName(n)
			if err != nil {
				return nil, fmt.Errorf("dlna: interface %q: %w", n, err)
			}
			if ifi.Flags&want != want {
				return nil, fmt.Errorf("dlna: interface %s is down or cannot multicast", n)
			}
			if !hasIPv4(*ifi) {
				return nil, fmt.Errorf("dlna: interface %s has no IPv4 address", n)
			}
			r = append(r, *ifi)
		}
		return r, nil
	}
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("dlna: %w", err)
	}
	var r []net.Interface
	for _, ifi := range all {
		if ifi.Flags&want == want && ifi.Flags&net.FlagLoopback == 0 && hasIPv4(ifi) {
			r = append(r, ifi)
		}
	}
	if len(r) == 0 {
		return nil, ErrNoInterfaces
	}
	return r, nil
}

func hasIPv4(ifi net.Interface) bool {
	_, ok := ipv4Of(ifi, netip.Addr{})
	return ok
}

// ipv4Of returns the IPv4 address of ifi in the subnet of peer, else its first.
func ipv4Of(ifi net.Interface, peer netip.Addr) (netip.Addr, bool) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, false
	}
	var first netip.Addr
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.To4() == nil {
			continue
		}
		p, ok := netipPrefix(n)
		if !ok {
			continue
		}
		ip, _ := netip.AddrFromSlice(n.IP.To4())
		if peer.IsValid() && p.Contains(peer) {
			return ip, true
		}
		if !first.IsValid() {
			first = ip
		}
	}
	return first, first.IsValid()
}
