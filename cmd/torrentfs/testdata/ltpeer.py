#!/usr/bin/python3
"""libtorrent (Debian's python3-libtorrent, the engine of qBittorrent and Deluge) for the
interop tests, on 127.0.0.1 (or another loopback address) only: DHT, local discovery, UPnP, NAT-PMP and uTP off.

  ltpeer.py create [--v2-only] PATH OUT   make a hybrid (v1 and v2) torrent of PATH,
                                          with padding files, or a v2-only one, and
                                          print its magnet link
  ltpeer.py run TORRENT DIR [IP:]PORT [PEER]
                                          seed TORRENT from DIR, or download it there
                                          from PEER (host:port), listening and dialling
                                          from IP (127.0.0.1 if not given); prints "infohash H"
                                          (its v1 info-hash, in hex), "listening"
                                          once it accepts peers, "pieces N" as it gets
                                          them, "seeding" once it has every piece, and
                                          runs until killed; with LTPEER_ENCRYPTION=forced
                                          in the environment, only encrypted (MSE)
                                          connections, both ways
"""
import os
import sys
import time

import libtorrent as lt


def create(args):
    flags = 0
    if args[0] == "--v2-only":
        flags, args = lt.create_torrent.v2_only, args[1:]
    path, out = os.path.abspath(args[0]), args[1]
    fs = lt.file_storage()
    lt.add_files(fs, path)
    t = lt.create_torrent(fs, 64 << 10, flags=flags)
    t.set_creator("torrentfs interop test")
    lt.set_piece_hashes(t, os.path.dirname(path))
    with open(out, "wb") as f:
        f.write(lt.bencode(t.generate()))
    print(lt.make_magnet_uri(lt.torrent_info(out)))


def run(args):
    torrent, save = args[0], args[1]
    ip, _, port = args[2].rpartition(":")
    ip = ip or "127.0.0.1"
    settings = {
        "listen_interfaces": "%s:%s" % (ip, port),
        "outgoing_interfaces": ip,
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "enable_incoming_utp": False, "enable_outgoing_utp": False,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert_category.error | lt.alert_category.status,
    }
    if os.environ.get("LTPEER_ENCRYPTION") == "forced":
        settings["in_enc_policy"] = settings["out_enc_policy"] = int(lt.enc_policy.forced)
    ses = lt.session(settings)
    ti = lt.torrent_info(torrent)
    print("infohash", ti.info_hashes().v1, flush=True)
    h = ses.add_torrent({"ti": ti, "save_path": save})
    if len(args) > 3:
        host, peer = args[3].rsplit(":", 1)
        h.connect_peer((host, int(peer)))
    said, pieces = False, -1
    while True:
        for a in ses.pop_alerts():
            if isinstance(a, lt.listen_succeeded_alert):
                print("listening:", a.message(), flush=True)
            elif a.category() & lt.alert_category.error:
                print("error:", a.message(), flush=True)
        s = h.status()
        if s.num_pieces != pieces and s.num_pieces > 0 and not s.is_seeding:
            pieces = s.num_pieces
            print("pieces", pieces, flush=True)
        if s.is_seeding and not said:
            print("seeding", flush=True)
            said = True
        time.sleep(0.1)


if __name__ == "__main__":
    {"create": create, "run": run}[sys.argv[1]](sys.argv[2:])
