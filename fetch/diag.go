package fetch

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// diagnostics is the client's own Observer: it keeps each torrent's first contact and turns
// its totals into rates. It takes no lock on the read path: the records are atomics, the
// meter's ring has one writer (the client's sampling goroutine) and readers load its last
// rates.
type diagnostics struct {
	log *slog.Logger
	// torrents holds each joining or joined torrent's record (metainfo.Hash → *torrentDiag),
	// made before it joins anacrolix, whose callbacks find it here.
	torrents sync.Map
}

var _ Observer = (*diagnostics)(nil)

func newDiagnostics(log *slog.Logger) *diagnostics { return &diagnostics{log: log} }

func (d *diagnostics) Joining(ih metainfo.Hash) TorrentObserver {
	td := &torrentDiag{d: d, ih: ih, contact: contact{start: time.Now()}}
	d.torrents.Store(ih, td)
	return td
}

func (d *diagnostics) SawFor(ih metainfo.Hash, s Step) {
	if td := d.of(ih); td != nil {
		td.contact.saw(s)
	}
}

func (d *diagnostics) SawChunkFor(ih metainfo.Hash, from func() string) {
	if td := d.of(ih); td != nil && td.contact.saw(StepChunk) {
		name := from()
		td.contact.from.Store(&name)
	}
}

func (d *diagnostics) of(ih metainfo.Hash) *torrentDiag {
	if v, ok := d.torrents.Load(ih); ok {
		return v.(*torrentDiag)
	}
	return nil
}

// count is how many torrents' records are kept.
func (d *diagnostics) count() int {
	n := 0
	d.torrents.Range(func(any, any) bool { n++; return true })
	return n
}

// torrentDiag is one torrent's diagnostics: its first contact and its meter.
type torrentDiag struct {
	d       *diagnostics
	ih      metainfo.Hash
	name    atomic.Pointer[string] // set by Started
	contact contact
	meter   meter
}

var (
	_ TorrentObserver = (*torrentDiag)(nil)
	_ rater           = (*torrentDiag)(nil)
	_ contactRecorder = (*torrentDiag)(nil)
)

// Started takes the torrent's first sample, with anacrolix's totals at 0, so that a read in
// its first second counts in its rates.
func (td *torrentDiag) Started(t *Torrent) {
	name := t.Name()
	td.name.Store(&name)
	td.meter.add(Totals{At: time.Now(), Read: t.BytesRead()})
}

func (td *torrentDiag) Saw(s Step) { td.contact.saw(s) }

// Read logs the first contact as the first read returns data.
func (td *torrentDiag) Read(n int) {
	if td.contact.sawRead() {
		var name string
		if p := td.name.Load(); p != nil {
			name = *p
		}
		td.d.log.Debug("first contact", "torrent", name, "since_start", td.contact.snapshot())
	}
}

func (td *torrentDiag) Sample(s Totals) { td.meter.add(s) }

func (td *torrentDiag) Left() { td.d.torrents.CompareAndDelete(td.ih, td) }

func (td *torrentDiag) Rates() (down, up, read float64) { return td.meter.rates() }

func (td *torrentDiag) FirstContact() FirstContact { return td.contact.snapshot() }

// meter turns a torrent's totals, sampled every second, into rates over the last few
// seconds. add has one caller at a time (Started, then the client's sampling goroutine);
// rates may be called from any goroutine, and takes no lock.
type meter struct {
	samples [meterSamples]Totals // a ring; next is the oldest; add's alone
	next, n int                  // add's alone
	last    atomic.Pointer[rates]
}

type rates struct{ down, up, read float64 }

// meterSamples taken a second apart make rates over the last 4 seconds.
const meterSamples = 5

func (m *meter) add(s Totals) {
	m.samples[m.next] = s
	m.next = (m.next + 1) % meterSamples
	m.n = min(m.n+1, meterSamples)
	var r rates
	newest := m.samples[(m.next+meterSamples-1)%meterSamples]
	oldest := m.samples[(m.next+meterSamples-m.n)%meterSamples]
	if dt := newest.At.Sub(oldest.At).Seconds(); m.n >= 2 && dt > 0 {
		r = rates{float64(newest.Downloaded-oldest.Downloaded) / dt, float64(newest.Uploaded-oldest.Uploaded) / dt,
			float64(newest.Read-oldest.Read) / dt}
	}
	m.last.Store(&r)
}

func (m *meter) rates() (down, up, read float64) {
	if r := m.last.Load(); r != nil {
		return r.down, r.up, r.read
	}
	return 0, 0, 0
}
