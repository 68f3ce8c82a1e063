package fetch

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent/tracker"
	trHttp "github.com/torrentfs/torrentfs/third_party/anacrolix-torrent/tracker/http"
	"golang.org/x/net/proxy"
)

// netPlan is how the client's connections leave: by Config.BindInterface's device and
// through Config.Proxy's SOCKS5 server, or as the system routes them. One plan serves
// anacrolix's config, the need-peers announces (announce.go), the DHT's bootstrap lookups
// (dht.go) and the library's downloads of .torrent URLs (HTTPClient), so none goes around
// the flags. With a device, name lookups leave by it too; with a proxy, what cannot go
// through it (UDP: the DHT, uTP, UDP trackers) is off, and UPnP asks no router for a port.
type netPlan struct {
	bind     string                                             // Config.BindInterface
	dialer   *net.Dialer                                        // TCP: bound, with a bound resolver
	resolver *net.Resolver                                      // bound to the device, or the system's
	udp      func(network, addr string) (net.PacketConn, error) // UDP trackers' sockets
	proxy    func(*http.Request) (*url.URL, error)              // nil without Config.Proxy
	peers    proxy.ContextDialer                                // SOCKS5 for peers; nil without
}

func newNetPlan(cfg Config) (*netPlan, error) {
	if cfg.Proxy != nil && cfg.Proxy.Scheme != "socks5" && cfg.Proxy.Scheme != "socks5h" {
		return nil, fmt.Errorf("proxy %s: %w", cfg.Proxy.Redacted(), ErrProxyScheme)
	}
	p := &netPlan{bind: cfg.BindInterface, dialer: &net.Dialer{}, resolver: net.DefaultResolver,
		udp: func(network, addr string) (net.PacketConn, error) { return net.ListenPacket(network, addr) }}
	if cfg.BindInterface != "" {
		if _, err := net.InterfaceByName(cfg.BindInterface); err != nil {
			return nil, fmt.Errorf("--bind-interface %s: %w (ip link lists them)", cfg.BindInterface, ErrNoInterface)
		}
		ctl := bindControl(cfg.BindInterface)
		p.resolver = &net.Resolver{PreferGo: true, Dial: (&net.Dialer{Control: ctl}).DialContext}
		p.dialer = &net.Dialer{Control: ctl, Resolver: p.resolver}
		lc := net.ListenConfig{Control: ctl}
		p.udp = func(network, addr string) (net.PacketConn, error) {
			pc, err := lc.ListenPacket(context.Background(), network, addr)
			if err != nil { // the device went away (a VPN down): no packet leaves
				return deadPacketConn{fmt.Errorf("udp on %s: %w", cfg.BindInterface, err)}, nil
			}
			return pc, nil
		}
	}
	if cfg.Proxy != nil {
		d, err := proxy.FromURL(cfg.Proxy, p.dialer)
		if err != nil {
			return nil, fmt.Errorf("proxy %s: %w", cfg.Proxy.Redacted(), err)
		}
		p.peers = d.(proxy.ContextDialer) // x/net's SOCKS5 dialer is one
		p.proxy = http.ProxyURL(cfg.Proxy)
		p.udp = func(string, string) (net.PacketConn, error) {
			return deadPacketConn{fmt.Errorf("udp tracker: %w", ErrProxyUDP)}, nil
		}
	}
	return p, nil
}

// restricted says whether the plan is more than the system's routes.
func (p *netPlan) restricted() bool { return p.bind != "" || p.proxy != nil }

// apply sets anacrolix's config to the plan. Peers through a proxy also need AddDialer
// (New).
func (p *netPlan) apply(tc *torrent.ClientConfig) {
	tc.SocketControl = sendQueueControl()
	if !p.restricted() {
		return
	}
	tc.HTTPDialContext, tc.TrackerDialContext = p.dialer.DialContext, p.dialer.DialContext
	tc.HTTPProxy = p.proxy
	tc.TrackerListenPacket = p.udp
	tc.MetainfoSourcesClient.Transport = p.transport()
	// UPnP and NAT-PMP would ask the LAN's router, not the VPN's, to forward a port.
	tc.NoDefaultPortForwarding = true
	// anacrolix's uTP sockets take no socket options and cannot go through SOCKS5: uTP is
	// off, and New runs the DHT on a bound socket of its own (none under a proxy).
	tc.NoDHT, tc.DisableUTP = true, true
	if p.bind != "" {
		bind, queue := p.dialer.Control, tc.SocketControl // peers: anacrolix patch 0024
		tc.SocketControl = func(network, address string, c syscall.RawConn) error {
			if err := bind(network, address, c); err != nil || queue == nil {
				return err
			}
			return queue(network, address, c)
		}
	}
	if p.proxy != nil {
		tc.DialForPeerConns = false // New adds the SOCKS5 dialer
	}
}

func (p *netPlan) transport() *http.Transport {
	return &http.Transport{Proxy: p.proxy, DialContext: p.dialer.DialContext,
		TLSHandshakeTimeout: 10 * time.Second, IdleConnTimeout: 90 * time.Second}
}

// trackerOpts are the options of a tracker client for u that follows the plan.
func (p *netPlan) trackerOpts(u *url.URL) tracker.NewClientOpts {
	if !p.restricted() {
		return tracker.NewClientOpts{}
	}
	return tracker.NewClientOpts{
		Http:         trHttp.NewClientOpts{Proxy: p.proxy, DialContext: p.dialer.DialContext, ServerName: u.Hostname()},
		ListenPacket: p.udp,
	}
}

// resolveUDP resolves a host:port to UDP addresses by the plan's resolver.
func (p *netPlan) resolveUDP(ctx context.Context, network, hostport string) ([]*net.UDPAddr, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("%s: bad port", hostport)
	}
	family := map[string]string{"udp4": "ip4", "udp6": "ip6"}[network]
	if family == "" {
		family = "ip"
	}
	ips, err := p.resolver.LookupNetIP(ctx, family, host)
	if err != nil {
		return nil, err
	}
	var as []*net.UDPAddr
	for _, ip := range ips {
		as = append(as, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip.Unmap(), uint16(n))))
	}
	return as, nil
}

// HTTPClient returns a client for HTTP downloads that leaves as the client's connections
// do (Config.BindInterface, Config.Proxy), with a whole-request timeout.
func (c *Client) HTTPClient(timeout time.Duration) *http.Client {
	if !c.net.restricted() {
		return &http.Client{Timeout: timeout}
	}
	return &http.Client{Timeout: timeout, Transport: c.net.transport()}
}

// deadPacketConn is a UDP socket that cannot be had: under a SOCKS5 proxy, or bound to a
// device that is gone. Every call fails with err, so a UDP tracker's announce fails and is
// logged, where anacrolix would panic on a socket it could not open (initTrackerClient).
type deadPacketConn struct{ err error }

func (d deadPacketConn) ReadFrom([]byte) (int, net.Addr, error) { return 0, nil, d.err }
func (d deadPacketConn) WriteTo([]byte, net.Addr) (int, error)  { return 0, d.err }
func (d deadPacketConn) Close() error                           { return nil }
func (d deadPacketConn) LocalAddr() net.Addr                    { return &net.UDPAddr{} }
func (d deadPacketConn) SetDeadline(time.Time) error            { return nil }
func (d deadPacketConn) SetReadDeadline(time.Time) error        { return nil }
func (d deadPacketConn) SetWriteDeadline(time.Time) error       { return nil }

// nameLookupTimeout bounds the lookup of each name among the peers a torrent is given.
const nameLookupTimeout = 10 * time.Second

// resolvePeers returns peers with each host name (--peer host:port) replaced by one address
// it resolves to: the first IPv4 one if there is one, else the first. One, not all: a peer
// with two addresses would be dialed twice, and the redialler would dial the one it is not
// connected by for as long as the other lasts; a name whose chosen address does not answer
// is not tried at its others. anacrolix resolves a name only as it dials it, and reports a
// failed dial by the name, which the redialler cannot match to the connections it sees
// (they are by IP address): a named peer that was down at first was never dialed again. A
// name that does not resolve is kept, and logged: anacrolix dials it by name (once, unless
// a magnet link's metadata is awaited: waitInfo queues it again). Through a proxy, names
// are the proxy's to resolve, and are kept.
func (p *netPlan) resolvePeers(ctx context.Context, peers []torrent.PeerInfo, log *slog.Logger) []torrent.PeerInfo {
	if p.peers != nil {
		return peers
	}
	var out []torrent.PeerInfo
	for _, pi := range peers {
		a := pi.Addr.String()
		if _, err := netip.ParseAddrPort(a); err == nil {
			out = append(out, pi)
			continue
		}
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			out = append(out, pi)
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, nameLookupTimeout)
		ips, err := p.resolver.LookupNetIP(lctx, "ip", host)
		cancel()
		if ctx.Err() != nil {
			return peers // given up: the torrent is closing, or its Add was cancelled
		}
		if err != nil || len(ips) == 0 {
			log.Warn("cannot resolve a peer's name: it is dialed by name, and not again once it fails", "peer", a, "err", err)
			out = append(out, pi)
			continue
		}
		ip := ips[0]
		for _, c := range ips {
			if c.Unmap().Is4() {
				ip = c
				break
			}
		}
		pi.Addr = stringAddr(net.JoinHostPort(ip.Unmap().String(), port))
		out = append(out, pi)
	}
	return out
}
