package dns

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// HostResolv is what a task's DNS takes from the host's resolv.conf.
type HostResolv struct {
	// Upstreams are the host's nameservers on port 53, loopback ones left out.
	Upstreams []netip.AddrPort
	// Search are the host's search domains (the last "search" or "domain" line).
	Search []string
}

// ReadHostResolvConf reads path (usually /etc/resolv.conf).
func ReadHostResolvConf(path string) (HostResolv, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return HostResolv{}, fmt.Errorf("read host resolv.conf: %w", err)
	}
	return ParseHostResolvConf(data), nil
}

// ParseHostResolvConf parses resolv.conf content; lines it does not know are skipped,
// as the C resolver does.
func ParseHostResolvConf(data []byte) HostResolv {
	var hr HostResolv
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") || strings.HasPrefix(fields[0], ";") {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if a, err := netip.ParseAddr(fields[1]); err == nil && !a.IsLoopback() {
				hr.Upstreams = append(hr.Upstreams, netip.AddrPortFrom(a, 53))
			}
		case "search", "domain":
			hr.Search = append([]string(nil), fields[1:]...)
		}
	}
	return hr
}

// ResolvConf is a task's /etc/resolv.conf: the embedded server only, the host's search
// domains, and ndots:0 so that a bare service name is asked as it is first.
func ResolvConf(search []string) []byte {
	var b bytes.Buffer
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	fmt.Fprintf(&b, "nameserver %s\n", DefaultListen.Addr())
	b.WriteString("options ndots:0\n")
	return b.Bytes()
}
