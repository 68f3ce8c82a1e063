// A UPnP control point for torrentfs's DLNA tests, made of two npm packages: node-ssdp
// discovers media servers, upnp-device-client reads their descriptions and calls their
// actions. Each command prints JSON lines on stdout.
//
//   node client.js discover ST MS     M-SEARCH for ST once a second for MS milliseconds;
//                                     print each answer {st, usn, location, from}, and
//                                     with ST other than ssdp:all stop at the first
//   node client.js describe LOCATION  print the device description {friendlyName, services}
//   node client.js browse LOCATION OBJECTID FLAG START COUNT
//                                     call ContentDirectory Browse; print its result
//   node client.js protocolinfo LOCATION
//                                     call ConnectionManager GetProtocolInfo
'use strict';
const { Client: SSDPClient } = require('node-ssdp');
const DeviceClient = require('upnp-device-client');

function fail(err) {
  process.stderr.write(String((err && err.stack) || err) + '\n');
  process.exit(1);
}

const [cmd, ...args] = process.argv.slice(2);
switch (cmd) {
  case 'discover': {
    const [st, ms] = args;
    const client = new SSDPClient({ customLogger: () => {} });
    const seen = new Set();
    client.on('response', (headers, code, rinfo) => {
      const key = headers.USN + ' ' + headers.LOCATION;
      if (seen.has(key)) return;
      seen.add(key);
      console.log(JSON.stringify({ st: headers.ST, usn: headers.USN, location: headers.LOCATION, from: rinfo.address }));
      if (st !== 'ssdp:all' && headers.ST === st) done();
    });
    const search = () => client.search(st);
    const tick = setInterval(search, 1000);
    const timer = setTimeout(done, Number(ms));
    function done() {
      clearInterval(tick);
      clearTimeout(timer);
      client.stop();
      process.exit(0);
    }
    search();
    break;
  }
  case 'describe': {
    new DeviceClient(args[0]).getDeviceDescription((err, desc) => {
      if (err) fail(err);
      console.log(JSON.stringify({ friendlyName: desc.friendlyName, deviceType: desc.deviceType, udn: desc.UDN, services: Object.keys(desc.services) }));
    });
    break;
  }
  case 'browse': {
    const [location, id, flag, start, count] = args;
    new DeviceClient(location).callAction('ContentDirectory', 'Browse', {
      ObjectID: id, BrowseFlag: flag, Filter: '*', StartingIndex: start, RequestedCount: count, SortCriteria: '',
    }, (err, res) => {
      if (err) fail(err);
      console.log(JSON.stringify(res));
    });
    break;
  }
  case 'protocolinfo': {
    new DeviceClient(args[0]).callAction('ConnectionManager', 'GetProtocolInfo', {}, (err, res) => {
      if (err) fail(err);
      console.log(JSON.stringify(res));
    });
    break;
  }
  default:
    fail('usage: client.js discover|describe|browse|protocolinfo ...');
}
