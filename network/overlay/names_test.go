package overlay

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestMACFromIPIsDockerStyle(t *testing.T) {
	tests := []struct {
		name, ip, want string
		wantErr        bool
	}{
		{name: "first task", ip: "10.213.200.1", want: "02:42:0a:d5:c8:01"},
		{name: "all ones", ip: "255.255.255.255", want: "02:42:ff:ff:ff:ff"},
		{name: "v4 in v6", ip: "::ffff:10.0.0.2", want: "02:42:0a:00:00:02"},
		{name: "ipv6 has no derived MAC", ip: "fd00::1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MACFromIP(netip.MustParseAddr(tt.ip))
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("err = %v, want ErrInvalidConfig", err)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("MACFromIP(%s) = %s, %v; want %s", tt.ip, got, err, tt.want)
			}
		})
	}
}

func TestDeviceNamesFitAndAreStable(t *testing.T) {
	long := strings.Repeat("x", 40)
	tests := []struct {
		name, got, want string
		ifName          bool // must fit IFNAMSIZ
	}{
		{name: "sandbox takes 12 id chars", got: sandboxName("shoal-ov-", "abcdefghijklmnopqrstuvwxy"), want: "shoal-ov-abcdefghijkl"},
		{name: "short id kept whole", got: sandboxName("p-", "net1"), want: "p-net1"},
		{name: "host vxlan by vni", got: hostVXLANName(16777215), want: "shlvx16777215", ifName: true},
		{name: "endpoint is vt + 12 hex", got: endpointLinkName("task-1"), want: endpointLinkName("task-1"), ifName: true},
		{name: "first free ethN skips taken", got: freeIfName([]string{"lo", "eth0", "eth1", "eth3"}), want: "eth2", ifName: true},
		{name: "eth1 when none", got: freeIfName([]string{"lo"}), want: "eth1", ifName: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
			if tt.ifName && len(tt.got) > maxIfName {
				t.Fatalf("%q is longer than %d bytes", tt.got, maxIfName)
			}
		})
	}
	if a, b := endpointLinkName(long+"a"), endpointLinkName(long+"b"); a == b || len(a) != 14 || !strings.HasPrefix(a, endpointPrefix) {
		t.Errorf("endpoint names %q, %q: want distinct 14-byte vt names", a, b)
	}
}

func TestBadInputNamesTheField(t *testing.T) {
	subnet := netip.MustParsePrefix("10.0.0.0/24")
	addr := netip.MustParsePrefix("10.0.0.2/24")
	tests := []struct {
		name, wantInMsg string
		err             func() error
	}{
		{"no underlay address", "UnderlayAddr", func() error { _, err := (&Config{}).withDefaults(); return err }},
		{"port out of range", "VXLANPort", func() error {
			_, err := (&Config{UnderlayAddr: netip.MustParseAddr("10.0.0.1"), VXLANPort: 70000}).withDefaults()
			return err
		}},
		{"bad prefix", "SandboxPrefix", func() error {
			_, err := (&Config{UnderlayAddr: netip.MustParseAddr("10.0.0.1"), SandboxPrefix: "a/b"}).withDefaults()
			return err
		}},
		{"vni zero", "VNI", func() error { return NetworkConfig{ID: "n", Subnet: subnet}.validate() }},
		{"vni too big", "VNI", func() error { return NetworkConfig{ID: "n", VNI: 1 << 24, Subnet: subnet}.validate() }},
		{"no subnet", "Subnet", func() error { return NetworkConfig{ID: "n", VNI: 1}.validate() }},
		{"gateway outside", "Gateway", func() error {
			return NetworkConfig{ID: "n", VNI: 1, Subnet: subnet, Gateway: netip.MustParseAddr("10.1.0.1")}.validate()
		}},
		{"network id with slash", "network ID", func() error { return NetworkConfig{ID: "../x", VNI: 1, Subnet: subnet}.validate() }},
		{"no netns path", "NetnsPath", func() error { return EndpointConfig{NetworkID: "n", TaskID: "t", Addr: addr}.validate() }},
		{"no address", "Addr", func() error { return EndpointConfig{NetworkID: "n", TaskID: "t", NetnsPath: "/p"}.validate() }},
		{"ipv6 without MAC", "MAC", func() error {
			return EndpointConfig{NetworkID: "n", TaskID: "t", NetnsPath: "/p", Addr: netip.MustParsePrefix("fd00::2/64")}.validate()
		}},
		{"long ifname", "IfName", func() error {
			return EndpointConfig{NetworkID: "n", TaskID: "t", NetnsPath: "/p", Addr: addr, IfName: "a-very-long-name0"}.validate()
		}},
		{"peer without MAC", "MAC", func() error {
			return Peer{Addr: addr.Addr(), NodeAddr: netip.MustParseAddr("192.0.2.1")}.validate()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Fatalf("err = %v, want ErrInvalidConfig naming %s", err, tt.wantInMsg)
			}
		})
	}
}
