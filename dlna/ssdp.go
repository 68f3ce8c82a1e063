package dlna

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/anacrolix/dms/ssdp"
	"golang.org/x/net/ipv4"
)

// SSDP's multicast group and port (UPnP Device Architecture 1.1, 1.1.2).
var ssdpGroup = &net.UDPAddr{IP: net.IPv4(239, 255, 255, 250), Port: 1900}

// serverHeader is the SERVER header of announcements and answers.
const serverHeader = "Linux UPnP/1.0 DLNADOC/1.50 torrentfs/1"

// The device and service types of the server.
const (
	deviceType            = "urn:schemas-upnp-org:device:MediaServer:1"
	contentDirectoryType  = "urn:schemas-upnp-org:service:ContentDirectory:1"
	connectionManagerType = "urn:schemas-upnp-org:service:ConnectionManager:1"
)

// ssdpServer announces the server and answers M-SEARCH on one socket bound to port 1900,
// member of the group on each interface. It answers only what arrives on those interfaces.
type ssdpServer struct {
	// Immutable after listenSSDP.
	s    *Server
	conn *ipv4.PacketConn
	ifs  map[int]net.Interface // by index
	stop chan struct{}         // closed by close
	once sync.Once
	wg   sync.WaitGroup // the goroutines of start
}

// listenSSDP binds the SSDP port, sharing it with other SSDP software on the machine, and
// joins the group on each of s's interfaces.
func listenSSDP(s *Server) (*ssdpServer, error) {
	lc := net.ListenConfig{Control: reuseAddr}
	pc, err := lc.ListenPacket(context.Background(), "udp4", fmt.Sprintf("0.0.0.0:%d", ssdpGroup.Port))
	if err != nil {
		return nil, fmt.Errorf("dlna: ssdp: %w", err)
	}
	ss := &ssdpServer{s: s, conn: ipv4.NewPacketConn(pc), ifs: map[int]net.Interface{}, stop: make(chan struct{})}
	fail := func(err error) (*ssdpServer, error) {
		pc.Close()
		return nil, fmt.Errorf("dlna: ssdp: %w", err)
	}
	if err := ss.conn.SetControlMessage(ipv4.FlagInterface, true); err != nil {
		return fail(err)
	}
	ss.conn.SetMulticastTTL(2) // UDA 1.1: "SHOULD default to 2"
	ss.conn.SetMulticastLoopback(true)
	for _, ifi := range s.opts.Interfaces {
		if err := ss.conn.JoinGroup(&ifi, ssdpGroup); err != nil {
			return fail(fmt.Errorf("join %s on %s: %w", ssdpGroup.IP, ifi.Name, err))
		}
		ss.ifs[ifi.Index] = ifi
	}
	return ss, nil
}

// start announces and answers until close.
func (ss *ssdpServer) start() {
	ss.wg.Go(ss.read)
	ss.wg.Go(ss.announce)
	// Unblocks read once stopped; the socket stays open for announce's byebye.
	ss.wg.Go(func() { <-ss.stop; ss.conn.SetReadDeadline(time.Now()) })
}

// close says byebye, closes the socket and waits for the goroutines. Without start, it
// closes the socket alone.
func (ss *ssdpServer) close() error {
	ss.once.Do(func() { close(ss.stop) })
	ss.wg.Wait() // announce says byebye before it returns
	return ss.conn.Close()
}

// types are the notification types of the server: the root device, the device itself, its
// type and its services'.
func (ss *ssdpServer) types() []string {
	return []string{"upnp:rootdevice", ss.s.uuid, deviceType, contentDirectoryType, connectionManagerType}
}

func (ss *ssdpServer) usn(nt string) string {
	if nt == ss.s.uuid {
		return nt
	}
	return ss.s.uuid + "::" + nt
}

func (ss *ssdpServer) maxAge() int { return int(3 * ss.s.opts.NotifyInterval / time.Second) }

// announce sends ssdp:alive on every interface now and every NotifyInterval, and
// ssdp:byebye once stopped.
func (ss *ssdpServer) announce() {
	t := time.NewTicker(ss.s.opts.NotifyInterval)
	defer t.Stop()
	for {
		ss.notifyAll("ssdp:alive")
		select {
		case <-ss.stop:
			ss.notifyAll("ssdp:byebye")
			return
		case <-t.C:
		}
	}
}

func (ss *ssdpServer) notifyAll(nts string) {
	for idx, ifi := range ss.ifs {
		ip, ok := ipv4Of(ifi, netip.Addr{})
		if !ok {
			continue
		}
		cm := &ipv4.ControlMessage{IfIndex: idx}
		for _, nt := range ss.types() {
			var b bytes.Buffer
			fmt.Fprintf(&b, "NOTIFY * HTTP/1.1\r\nHOST: %s\r\nNT: %s\r\nNTS: %s\r\nUSN: %s\r\n", ssdpGroup, nt, nts, ss.usn(nt))
			if nts == "ssdp:alive" {
				fmt.Fprintf(&b, "CACHE-CONTROL: max-age=%d\r\nLOCATION: %s\r\nSERVER: %s\r\n", ss.maxAge(), ss.s.location(ip), serverHeader)
			}
			b.WriteString("\r\n")
			if _, err := ss.conn.WriteTo(b.Bytes(), cm, ssdpGroup); err != nil {
				ss.s.log.Debug("ssdp notify", "interface", ifi.Name, "err", err)
			}
		}
	}
}

// read answers M-SEARCH requests until the socket is closed.
func (ss *ssdpServer) read() {
	buf := make([]byte, 8<<10)
	for {
		n, cm, src, err := ss.conn.ReadFrom(buf)
		if err != nil {
			select {
			case <-ss.stop:
				return
			default:
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			ss.s.log.Warn("ssdp: read", "err", err)
			return
		}
		if cm == nil {
			continue
		}
		ifi, ok := ss.ifs[cm.IfIndex]
		udp, isUDP := src.(*net.UDPAddr)
		if !ok || !isUDP {
			continue // not one of ours: not announced there
		}
		ss.answer(buf[:n], ifi, udp)
	}
}

// answer answers the M-SEARCH in b, from src on ifi, if it asks for one of the server's
// types. The answer goes at once: the MX delay is a control point's upper bound.
func (ss *ssdpServer) answer(b []byte, ifi net.Interface, src *net.UDPAddr) {
	st, ok := searchTarget(b)
	if !ok {
		return
	}
	// Only a sender on the link's subnets: an answer is larger than the search, and must
	// not go to a forged address elsewhere.
	peer, _ := netip.AddrFromSlice(src.IP)
	if !ss.s.onLAN(peer) || !ss.s.host(peer) || src.Port == 0 {
		return
	}
	ip, ok := ipv4Of(ifi, peer.Unmap())
	if !ok {
		return
	}
	for _, nt := range ss.types() {
		if st != "ssdp:all" && st != nt {
			continue
		}
		var out bytes.Buffer
		fmt.Fprintf(&out, "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=%d\r\nEXT:\r\nLOCATION: %s\r\nSERVER: %s\r\nST: %s\r\nUSN: %s\r\n\r\n",
			ss.maxAge(), ss.s.location(ip), serverHeader, nt, ss.usn(nt))
		if _, err := ss.conn.WriteTo(out.Bytes(), &ipv4.ControlMessage{IfIndex: ifi.Index}, src); err != nil {
			ss.s.log.Debug("ssdp answer", "to", src.String(), "err", err)
		}
	}
}

// searchTarget returns the search target (ST) of the M-SEARCH in datagram b, or false if b is
// not one. b is a stranger's datagram, of at most the read buffer's 8 KiB.
func searchTarget(b []byte) (string, bool) {
	req, err := ssdp.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
	if err != nil || req.Method != "M-SEARCH" || req.Header.Get("Man") != `"ssdp:discover"` {
		return "", false
	}
	return req.Header.Get("St"), true
}
