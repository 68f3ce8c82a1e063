// An HTTP BitTorrent tracker (webtorrent's bittorrent-tracker) for torrentfs's IPv6 tests:
//
//   node tracker.js HOST PORT
//
// listens on HOST (an IPv6 address: ::1) and PORT, prints "listening" once it does and
// "announce IP PORT EVENT" for every announce it receives, and runs until killed. Its
// server module alone is loaded: the package's client side needs WebRTC, not built here.
import Server from 'bittorrent-tracker/server'

const [host, port] = process.argv.slice(2)
const server = new Server({ http: true, udp: false, ws: false, stats: false, trustProxy: false })
server.on('error', err => { console.log('error:', err.message); process.exit(1) })
server.on('warning', err => console.log('warning:', err.message))
for (const event of ['start', 'complete', 'update', 'stop']) {
  server.on(event, addr => console.log('announce', addr, event))
}
server.listen(Number(port), host, () => console.log('listening'))
