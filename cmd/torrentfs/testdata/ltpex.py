#!/usr/bin/python3
"""libtorrent (Debian's python3-libtorrent) as one peer of a PEX test, on a host of its own
on the test network: DHT, local discovery, UPnP, NAT-PMP and uTP off; peer exchange (ut_pex)
on unless --no-pex.

  ltpex.py TORRENT DIR IP PORT [--no-pex] [--peer HOST:PORT]...

It adds TORRENT with its files under DIR (all, some or none of its pieces there), listens
on IP:PORT, and connects to each --peer. It prints "listening" once it accepts peers, "ready N" once it has checked
DIR and has N pieces, "peer IP:PORT SOURCES" for each peer it is connected to, again when
the sources it learnt that peer from change (a comma-separated list of tracker, dht, pex,
lsd, resume_data, or none: a peer that came in, or one it was told to connect to), and runs
until killed. Connections between two peers that both upload only are kept, as a
test needs them to stay.
"""
import sys
import time

import libtorrent as lt

SOURCES = [("tracker", lt.peer_info.tracker), ("dht", lt.peer_info.dht), ("pex", lt.peer_info.pex),
           ("lsd", lt.peer_info.lsd), ("resume_data", lt.peer_info.resume_data)]


def endpoint(s):
    host, port = s.rsplit(":", 1)
    return host.strip("[]"), int(port)


def main(args):
    torrent, save, ip, port = args[0], args[1], args[2], int(args[3])
    pex, peers = True, []
    rest = args[4:]
    while rest:
        if rest[0] == "--no-pex":
            pex, rest = False, rest[1:]
        elif rest[0] == "--peer" and len(rest) > 1:
            peers.append(endpoint(rest[1]))
            rest = rest[2:]
        else:
            sys.exit("ltpex.py: unknown argument %r" % rest[0])
    listen = "[%s]:%d" % (ip, port) if ":" in ip else "%s:%d" % (ip, port)
    settings = {
        "listen_interfaces": listen,
        "outgoing_interfaces": ip,
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "enable_incoming_utp": False, "enable_outgoing_utp": False,
        "close_redundant_connections": False,
        "alert_mask": lt.alert_category.error | lt.alert_category.status,
    }
    ses = lt.session(settings)
    flags = lt.torrent_flags.default_flags
    if not pex:
        flags |= lt.torrent_flags.disable_pex
    h = ses.add_torrent({"ti": lt.torrent_info(torrent), "save_path": save, "flags": flags})
    listening, ready, seen = False, False, {}
    while True:
        for a in ses.pop_alerts():
            if isinstance(a, lt.listen_succeeded_alert) and not listening:
                listening = True
                print("listening", flush=True)
            elif a.category() & lt.alert_category.error:
                print("error:", a.message(), flush=True)
        s = h.status()
        if not ready and s.state not in (lt.torrent_status.checking_files,
                                         lt.torrent_status.checking_resume_data):
            ready = True
            print("ready", s.num_pieces, flush=True)
            for p in peers:
                h.connect_peer(p)
        for p in h.get_peer_info():
            if p.flags & lt.peer_info.connecting or p.flags & lt.peer_info.handshake:
                continue
            host, pport = p.ip
            key = "[%s]:%d" % (host, pport) if ":" in host else "%s:%d" % (host, pport)
            src = ",".join(name for name, bit in SOURCES if p.source & bit) or "none"
            if seen.get(key) != src:
                seen[key] = src
                print("peer", key, src, flush=True)
        time.sleep(0.05)


if __name__ == "__main__":
    main(sys.argv[1:])
