package wireguard

import (
	"bytes"
	"crypto/rand"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func testKey(b byte) PublicKey {
	var k PublicKey
	copy(k[:], bytes.Repeat([]byte{b}, KeySize))
	return k
}

func TestPeersConfig(t *testing.T) {
	self := netip.MustParseAddr("10.0.0.1")
	peer := func(b byte, ep string) Peer {
		return Peer{PublicKey: testKey(b), Endpoint: netip.MustParseAddrPort(ep)}
	}
	tests := []struct {
		name    string
		peers   []Peer
		want    []string // lines that must be there, in order
		notWant string
		err     bool
	}{
		{name: "no peers: every old one goes", want: []string{"replace_peers=true"}, notWant: "public_key="},
		{name: "a peer: its key, endpoint and only its own address",
			peers: []Peer{peer(2, "10.0.0.2:51820")},
			want:  []string{"replace_peers=true", "public_key=" + strings.Repeat("02", KeySize), "endpoint=10.0.0.2:51820", "replace_allowed_ips=true", "allowed_ip=10.0.0.2/32"}},
		{name: "this node's own entry is skipped", peers: []Peer{peer(1, "10.0.0.1:51820")}, notWant: "public_key="},
		{name: "two peers at one address are refused", peers: []Peer{peer(2, "10.0.0.2:51820"), peer(3, "10.0.0.2:51821")}, err: true},
		{name: "a peer without a port is refused", peers: []Peer{{PublicKey: testKey(2), Endpoint: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), 0)}}, err: true},
		{name: "a peer without a key is refused", peers: []Peer{{Endpoint: netip.MustParseAddrPort("10.0.0.2:51820")}}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := peersConfig(self, tt.peers)
			if tt.err {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("err = %v, want ErrInvalidConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w+"\n")
				if i < 0 {
					t.Fatalf("config lacks %q (in order):\n%s", w, got)
				}
				rest = rest[i:]
			}
			if tt.notWant != "" && strings.Contains(got, tt.notWant) {
				t.Fatalf("config has %q:\n%s", tt.notWant, got)
			}
		})
	}
}

func TestConfigDefaultsAndRefusals(t *testing.T) {
	c, err := Config{UnderlayAddr: netip.MustParseAddr("10.0.0.1")}.withDefaults()
	if err != nil || c.LinkName != DefaultLinkName || c.Port != DefaultPort || c.Logger == nil {
		t.Fatalf("defaults = %+v, %v", c, err)
	}
	for _, bad := range []Config{
		{},
		{UnderlayAddr: netip.MustParseAddr("10.0.0.1"), LinkName: "a-name-longer-than-15"},
		{UnderlayAddr: netip.MustParseAddr("10.0.0.1"), Port: 70000},
	} {
		if _, err := bad.withDefaults(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: err = %v, want ErrInvalidConfig", bad, err)
		}
	}
}

func TestKeys(t *testing.T) {
	k, err := GeneratePrivateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := k.PublicKey()
	back, err := ParsePublicKey(pub.Bytes())
	if err != nil || back != pub {
		t.Fatalf("ParsePublicKey(Bytes()) = %v, %v; want %v", back, err, pub)
	}
	if _, err := ParsePublicKey(make([]byte, 31)); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("31 bytes: err = %v, want ErrInvalidKey", err)
	}
	other, _ := GeneratePrivateKey(rand.Reader)
	if other.PublicKey() == pub {
		t.Fatal("two generated keys are the same")
	}
}
