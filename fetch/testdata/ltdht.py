#!/usr/bin/python3
"""A libtorrent DHT node (Debian's python3-libtorrent) for the DHT tests, on one address of
the tests' private network namespace: local discovery, UPnP, NAT-PMP and uTP off.

  ltdht.py HOST:PORT [BOOTSTRAP...] [--seed TORRENT DIR]

joins the DHT through the BOOTSTRAP nodes (host:port; none makes it a bootstrap node
itself), and with --seed also seeds TORRENT from DIR, announcing it on the DHT. It prints
"listening" once its DHT socket is up, "get_peers HEX" for every get_peers query and
"announce HEX" for every announce_peer query it receives (HEX, an info-hash), "seeding"
once it seeds (and from then on announces the torrent every second), and runs until
killed. libtorrent's checks that would refuse nodes sharing an
address block (all of 127.0.0.0/8 here) are off.
"""
import sys
import time

import libtorrent as lt


def main(args):
    seed = None
    if "--seed" in args:
        i = args.index("--seed")
        seed, args = args[i + 1:i + 3], args[:i]
    addr, boot = args[0], args[1:]
    settings = {
        "listen_interfaces": addr,
        "outgoing_interfaces": addr.rsplit(":", 1)[0],
        "enable_dht": True,
        "dht_bootstrap_nodes": ",".join(boot),
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_ignore_dark_internet": False,
        "dht_prefer_verified_node_ids": False,
        "dht_announce_interval": 5,
        "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "enable_incoming_utp": False, "enable_outgoing_utp": False,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert_category.error | lt.alert_category.status | lt.alert_category.dht,
    }
    ses = lt.session(settings)
    h = None
    if seed:
        ti = lt.torrent_info(seed[0])
        h = ses.add_torrent({"ti": ti, "save_path": seed[1]})
    listening, seeding, announced = False, False, 0.0
    while True:
        for a in ses.pop_alerts():
            if isinstance(a, lt.dht_get_peers_alert):
                print("get_peers", a.info_hash, flush=True)
            elif isinstance(a, lt.dht_announce_alert):
                print("announce", a.info_hash, flush=True)
            elif isinstance(a, lt.listen_succeeded_alert) and not listening:
                if a.socket_type == lt.socket_type_t.udp:
                    listening = True
                    print("listening", flush=True)
            elif a.category() & lt.alert_category.error:
                print("error:", a.message(), flush=True)
        if h is not None and not seeding and h.status().is_seeding:
            seeding = True
            print("seeding", flush=True)
        if seeding and time.monotonic() - announced >= 1:
            # Announce every second, not on libtorrent's timer (minutes), so that nodes that
            # joined the DHT since hear of the torrent at once.
            h.force_dht_announce()
            announced = time.monotonic()
        ses.wait_for_alert(100)


if __name__ == "__main__":
    main(sys.argv[1:])
