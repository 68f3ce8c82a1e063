package dlna

import (
	"net/netip"
	"testing"
)

// TestHost: an M-SEARCH is answered only to an address that can be one host of the
// server's subnets, never to a subnet's broadcast or network address, where one forged
// search would send an answer to every host of the link.
func TestHost(t *testing.T) {
	s := &Server{nets: []netip.Prefix{netip.MustParsePrefix("192.168.1.7/24"), netip.MustParsePrefix("10.0.0.1/31")}}
	for _, c := range []struct {
		ip   string
		want bool
	}{
		{"192.168.1.20", true},
		{"::ffff:192.168.1.20", true},
		{"192.168.1.255", false},
		{"192.168.1.0", false},
		{"10.0.0.0", true}, // a /31 has no broadcast address (RFC 3021)
		{"10.0.0.1", true},
		{"239.255.255.250", false},
		{"0.0.0.0", false},
		{"fe80::1", false},
	} {
		if got := s.host(netip.MustParseAddr(c.ip)); got != c.want {
			t.Errorf("host(%s) = %v, want %v", c.ip, got, c.want)
		}
	}
}
