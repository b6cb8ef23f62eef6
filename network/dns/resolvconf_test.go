package dns_test

import (
	"net/netip"
	"slices"
	"testing"

	shoaldns "github.com/shoal-project/shoal/network/dns"
)

func TestParseHostResolvConfKeepsReachableNameserversAndSearch(t *testing.T) {
	got := shoaldns.ParseHostResolvConf([]byte(`# host resolvers
nameserver 127.0.0.53
nameserver 10.213.90.53
; comment
nameserver ::1
nameserver fd00::53
nameserver not-an-address
domain old.test
search corp.test lab.test
options edns0
`))
	wantUp := []netip.AddrPort{netip.MustParseAddrPort("10.213.90.53:53"), netip.MustParseAddrPort("[fd00::53]:53")}
	if !slices.Equal(got.Upstreams, wantUp) {
		t.Errorf("Upstreams = %v, want %v (loopback and junk left out)", got.Upstreams, wantUp)
	}
	if want := []string{"corp.test", "lab.test"}; !slices.Equal(got.Search, want) {
		t.Errorf("Search = %v, want %v (the last search/domain line)", got.Search, want)
	}
}

func TestResolvConfPointsAtTheEmbeddedServer(t *testing.T) {
	tests := []struct {
		search []string
		want   string
	}{
		{nil, "nameserver 127.0.0.11\noptions ndots:0\n"},
		{[]string{"corp.test", "lab.test"}, "search corp.test lab.test\nnameserver 127.0.0.11\noptions ndots:0\n"},
	}
	for _, tt := range tests {
		if got := string(shoaldns.ResolvConf(tt.search)); got != tt.want {
			t.Errorf("ResolvConf(%v) = %q, want %q", tt.search, got, tt.want)
		}
	}
}
