package web

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/library"
)

// Metrics are the mount's Prometheus metrics. Most are read from the library's torrents, the
// client and the cache at scrape time; only what no one else counts is kept here: the
// latency of reads, and their errors, which fetch reports through Config.ReadObserver.
type Metrics struct {
	reg        *prometheus.Registry
	latency    prometheus.Histogram
	readErrors *prometheus.CounterVec
}

// NewMetrics returns the metrics, with the Go runtime's and the process's.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "torrentfs_read_duration_seconds",
		Help: "How long reads of torrent files took, from the mount or HTTP: microseconds from the cache, seconds from the swarm.",
		// 100 µs to 26 s.
		Buckets: prometheus.ExponentialBuckets(100e-6, 4, 10),
	})
	m.readErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "torrentfs_read_errors_total",
		Help: "Reads of torrent files that failed, by reason: timeout (no data from peers), canceled (the reader went away), other.",
	}, []string{"reason"})
	for _, r := range []string{"timeout", "canceled", "other"} {
		m.readErrors.WithLabelValues(r)
	}
	m.reg.MustRegister(m.latency, m.readErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveRead is fetch.Config.ReadObserver: it records a read's latency, or its error.
func (m *Metrics) ObserveRead(d time.Duration, n int, err error) {
	switch {
	case err == nil || errors.Is(err, io.EOF):
		m.latency.Observe(d.Seconds())
	case errors.Is(err, fetch.ErrTimeout):
		m.readErrors.WithLabelValues("timeout").Inc()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		m.readErrors.WithLabelValues("canceled").Inc()
	default:
		m.readErrors.WithLabelValues("other").Inc()
	}
}

// Watch adds the metrics read at scrape time from the library's torrents, the client and the
// cache. Call it once.
func (m *Metrics) Watch(lib *library.Library, cl *fetch.Client, c *cache.Cache) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "torrentfs_reads_waiting",
			Help: "Reads waiting for pieces from the swarm now.",
		}, func() float64 { return float64(cl.ReadsWaiting()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "torrentfs_cache_used_bytes",
			Help: "Bytes the cache takes on disk.",
		}, func() float64 { used, _ := c.Usage(); return float64(used) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "torrentfs_cache_limit_bytes",
			Help: "The most bytes the cache may take on disk.",
		}, func() float64 { _, limit := c.Usage(); return float64(limit) }),
		&torrentCollector{lib: lib},
	)
}

// torrentCollector reads each torrent's numbers at scrape time.
type torrentCollector struct{ lib *library.Library }

var (
	labels      = []string{"torrent", "infohash"}
	descRead    = prometheus.NewDesc("torrentfs_read_bytes_total", "Bytes readers of the torrent's files were given, through the mount or HTTP.", labels, nil)
	descDown    = prometheus.NewDesc("torrentfs_downloaded_bytes_total", "Useful data received from peers, in bytes.", labels, nil)
	descWasted  = prometheus.NewDesc("torrentfs_wasted_bytes_total", "Data received from peers that was not needed (a chunk that came twice), in bytes.", labels, nil)
	descUp      = prometheus.NewDesc("torrentfs_uploaded_bytes_total", "Data sent to peers, in bytes.", labels, nil)
	descCached  = prometheus.NewDesc("torrentfs_cached_bytes", "Bytes of the torrent's files in verified pieces in the cache.", labels, nil)
	descEvicted = prometheus.NewDesc("torrentfs_evicted_bytes_total", "Bytes of the torrent the cache evicted.", labels, nil)
	descSize    = prometheus.NewDesc("torrentfs_size_bytes", "Bytes of the torrent's files.", labels, nil)
	descPeers   = prometheus.NewDesc("torrentfs_peers", "Connected peers.", labels, nil)
	descSeeders = prometheus.NewDesc("torrentfs_seeders", "Connected peers that have every piece.", labels, nil)
	descHash    = prometheus.NewDesc("torrentfs_hash_failures_total", "Pieces that failed their hash check.", labels, nil)
	// The waits of every peer connection, past and present, added up: peer-seconds, so that
	// their rate is how many peers were in that state on average (fetch.Waits).
	descWanted   = prometheus.NewDesc("torrentfs_peer_wanted_seconds_total", "Time peers had a piece we wanted, added up over peers.", labels, nil)
	descChoked   = prometheus.NewDesc("torrentfs_peer_choked_seconds_total", "Time peers had a piece we wanted and choked us, added up over peers.", labels, nil)
	descRequests = prometheus.NewDesc("torrentfs_peer_requests_seconds_total", "Time our requests to peers were outstanding and they did not choke us, added up over peers.", labels, nil)
	descCount    = prometheus.NewDesc("torrentfs_torrents", "Torrents in the mount, by state: mounted, or awaiting metadata.", []string{"state"}, nil)
)

func (tc *torrentCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRead, descDown, descWasted, descUp, descCached, descEvicted, descSize, descPeers, descSeeders, descHash, descWanted, descChoked, descRequests, descCount} {
		ch <- d
	}
}

func (tc *torrentCollector) Collect(ch chan<- prometheus.Metric) {
	mounted, pending := 0, 0
	for _, i := range tc.lib.List() {
		if i.Name == "" {
			pending++
			continue
		}
		_, t, ok := tc.lib.Get(i.InfoHash)
		if !ok || t == nil {
			continue
		}
		mounted++
		st := t.Stats()
		lv := []string{strings.ToValidUTF8(i.Name, "\uFFFD"), i.InfoHash}
		counter := func(d *prometheus.Desc, v int64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), lv...)
		}
		gauge := func(d *prometheus.Desc, v int64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), lv...)
		}
		counter(descRead, st.Read)
		counter(descDown, st.Downloaded)
		counter(descWasted, st.Wasted)
		counter(descUp, st.Uploaded)
		gauge(descCached, st.Cached)
		counter(descEvicted, st.Evicted)
		gauge(descSize, t.Length())
		gauge(descPeers, int64(st.Peers))
		gauge(descSeeders, int64(st.Seeders))
		counter(descHash, st.HashFailures)
		for d, v := range map[*prometheus.Desc]time.Duration{descWanted: st.Waits.Wanted, descChoked: st.Waits.Choked, descRequests: st.Waits.Requests} {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v.Seconds(), lv...)
		}
	}
	ch <- prometheus.MustNewConstMetric(descCount, prometheus.GaugeValue, float64(mounted), "mounted")
	ch <- prometheus.MustNewConstMetric(descCount, prometheus.GaugeValue, float64(pending), "awaiting_metadata")
}
