package fetch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/krpc"

	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
)

// The DHT (BEP 5) finds the peers of a torrent no tracker names: a bare magnet link's. A
// client joins it through bootstrap nodes: the public routers anacrolix knows
// (router.bittorrent.com and others), or Config.DHTBootstrap's, for a closed network or a
// test. What it learns, its routing table, is saved in Config.DHTNodesFile as it closes (and
// every dhtSaveEvery) and loaded as it starts, so a restart asks nodes it knew, not the bootstrap nodes, as
// libtorrent's session state and Transmission's dht.dat do.

// dhtConfig points anacrolix's DHT at Config.DHTBootstrap, if given.
func (c *Client) dhtConfig(tc *torrent.ClientConfig) {
	addrs := slices.Clone(c.cfg.DHTBootstrap)
	if len(addrs) == 0 {
		if c.cfg.BindInterface == "" {
			return // anacrolix's routers, looked up as the system does
		}
		// The routers' names are looked up by the bound device too (netplan.go).
		addrs = slices.Clone(dht.DefaultGlobalBootstrapHostPorts)
	}
	tc.DhtStartingNodes = func(network string) dht.StartingNodesGetter {
		return func() ([]dht.Addr, error) {
			var ret []dht.Addr
			var errs []error
			for _, a := range addrs {
				uas, err := c.net.resolveUDP(context.Background(), network, a)
				if err != nil {
					errs = append(errs, fmt.Errorf("dht bootstrap node %s: %w", a, err))
					continue
				}
				for _, ua := range uas {
					ret = append(ret, dht.NewAddr(ua))
				}
			}
			if len(ret) == 0 {
				return nil, errors.Join(errs...)
			}
			return ret, nil
		}
	}
}

// dhtServers returns the client's anacrolix DHT servers, one per address family.
func (c *Client) dhtServers() []*dht.Server {
	var ss []*dht.Server
	for _, s := range c.cl.DhtServers() {
		if w, ok := s.(torrent.AnacrolixDhtServerWrapper); ok {
			ss = append(ss, w.Server)
		}
	}
	return ss
}

// DHTNodes returns how many nodes the client's DHT routing tables hold: 0 with the DHT off.
func (c *Client) DHTNodes() int {
	n := 0
	for _, s := range c.dhtServers() {
		n += s.NumNodes()
	}
	return n
}

// loadDHTNodes adds the nodes saved in Config.DHTNodesFile to the routing tables. A missing
// file is a first start; a damaged one is logged and left to be overwritten.
func (c *Client) loadDHTNodes() {
	f := c.cfg.DHTNodesFile
	ss := c.dhtServers()
	if f == "" || len(ss) == 0 {
		return
	}
	ns, err := dht.ReadNodesFromFile(f)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		c.log.Warn("saved DHT nodes unreadable: bootstrapping", "file", f, "err", err)
		return
	}
	added := 0
	for _, n := range ns {
		for _, s := range ss {
			if s.AddNode(n) == nil {
				added++
				break
			}
		}
	}
	c.log.Info("DHT nodes loaded", "file", f, "nodes", added)
}

// dhtSaveEvery is how often the routing table is saved while the client runs, so that a
// crash or a kill -9 leaves a recent one.
const dhtSaveEvery = 10 * time.Minute

// saveDHTNodesEvery saves the routing table every dhtSaveEvery until the client closes.
func (c *Client) saveDHTNodesEvery() {
	if c.cfg.DHTNodesFile == "" || len(c.dhtServers()) == 0 {
		return
	}
	tick := time.NewTicker(dhtSaveEvery)
	defer tick.Stop()
	for {
		select {
		case <-c.bgCtx.Done():
			return
		case <-tick.C:
			if err := c.saveDHTNodes(); err != nil {
				c.log.Warn("DHT routing table not saved", "err", err)
			}
		}
	}
}

// saveDHTNodes writes the routing tables' good nodes to Config.DHTNodesFile, through a
// temporary file, so a crash leaves the old table whole.
func (c *Client) saveDHTNodes() error {
	f := c.cfg.DHTNodesFile
	ss := c.dhtServers()
	if f == "" || len(ss) == 0 {
		return nil
	}
	var ns []krpc.NodeInfo
	for _, s := range ss {
		ns = append(ns, s.Nodes()...)
	}
	if len(ns) == 0 {
		return nil // keep what an earlier run learnt
	}
	tmp := f + ".tmp"
	if err := dht.WriteNodesToFile(ns, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save dht nodes: %w", err)
	}
	if err := os.Rename(tmp, f); err != nil {
		return fmt.Errorf("save dht nodes: %w", err)
	}
	c.log.Debug("DHT nodes saved", "file", f, "nodes", len(ns))
	return nil
}
