package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/torrentfs/torrentfs/dlna"
	"github.com/torrentfs/torrentfs/engine"
)

// dlnaFlags are the --dlna flags of mount and serve: a UPnP MediaServer (package dlna) on
// the --http server.
type dlnaFlags struct {
	on         bool
	name       string
	interfaces []string
}

func (d *dlnaFlags) register(fl *pflag.FlagSet) {
	fl.BoolVar(&d.on, "dlna", false, "serve the torrents to TVs and players on the local network as a DLNA media server; needs --http on an address they can reach")
	fl.StringVar(&d.name, "dlna-name", "", "`name` TVs show for the DLNA server (default \"torrentfs on HOST\")")
	fl.StringArrayVar(&d.interfaces, "dlna-interface", nil, "announce the DLNA server on this network `interface` only (repeatable; default every interface that is up, can multicast and is not loopback)")
}

// config returns the DLNA configuration the flags ask for, or nil without --dlna. httpAddr
// is --http's address; id names the instance (its mount point, or serve's @NAME).
func (d *dlnaFlags) config(httpAddr, id string) (*engine.DLNAConfig, error) {
	if !d.on {
		if d.name != "" || len(d.interfaces) > 0 {
			return nil, usagef("--dlna-name and --dlna-interface need --dlna")
		}
		return nil, nil
	}
	if httpAddr == "" {
		return nil, usagef("--dlna needs --http ADDRESS: TVs fetch the files from the HTTP server, e.g. --http 0.0.0.0:8080 --http-auth-file FILE (DLNA players need no password: see 'DLNA' in the README)")
	}
	if host, _, err := net.SplitHostPort(httpAddr); err == nil && isLoopback(host) || !strings.Contains(httpAddr, ":") {
		return nil, usagef("--dlna: --http %s listens on this machine's loopback only, which no TV can reach: give --http 0.0.0.0:PORT or this machine's address on the network", httpAddr)
	}
	ifs, err := dlna.Interfaces(d.interfaces)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	name := d.name
	if name == "" {
		name = "torrentfs on " + host
	}
	if strings.ContainsAny(name, "\x00\r\n") || len(name) > 200 {
		return nil, usagef("--dlna-name: want one line of at most 200 bytes")
	}
	if !strings.HasPrefix(id, "@") {
		if abs, err := filepath.Abs(id); err == nil {
			id = abs
		}
	}
	return &engine.DLNAConfig{FriendlyName: name, ID: host + " " + id, Interfaces: ifs}, nil
}
