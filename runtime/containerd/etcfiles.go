package containerd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/client"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/runtime"
)

// The name-resolution files a container gets, as Docker's default bridge gives them:
// a bridge-mode task has its own /etc/hosts (localhost lines and "<its address>
// <its hostname>"), /etc/hostname and /etc/resolv.conf (the host's, without the
// nameservers a container cannot reach), written in the task's state directory and
// bind-mounted; a host-network task sees the host's /etc/hosts and /etc/resolv.conf.
const (
	etcHosts    = "hosts"
	etcHostname = "hostname"
	etcResolv   = "resolv.conf"
)

// Where the host's resolver configuration is read from.
const (
	hostResolvConf = "/etc/resolv.conf"
	// systemd-resolved's list of upstream servers, used when /etc/resolv.conf only
	// points at its loopback stub (as Docker does).
	resolvedResolvConf = "/run/systemd/resolve/resolv.conf"
)

// fallbackNameservers replace a host configuration with no nameserver a container can
// reach (Docker's defaults).
var fallbackNameservers = []string{"8.8.8.8", "8.8.4.4"}

// taskHostname is the hostname a task's container gets: the spec's, else (bridge
// mode) the first 12 characters of the task ID; "" in host mode keeps the host's.
func taskHostname(s *runtime.TaskSpec) string {
	if s.Hostname != "" || s.NetworkMode == "host" {
		return s.Hostname
	}
	h := s.TaskID
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

// hostsFile is a bridge-mode container's /etc/hosts.
func hostsFile(addr netip.Addr, hostname string) []byte {
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("ff00::0\tip6-mcastprefix\n")
	b.WriteString("ff02::1\tip6-allnodes\n")
	b.WriteString("ff02::2\tip6-allrouters\n")
	if addr.IsValid() && hostname != "" {
		names := hostname
		if short, _, ok := strings.Cut(hostname, "."); ok && short != "" {
			names += " " + short // a fully qualified hostname also resolves by its first label
		}
		fmt.Fprintf(&b, "%s\t%s\n", addr, names)
	}
	return b.Bytes()
}

// filterResolvConf turns the host's resolv.conf into a bridge-mode container's: the
// nameservers the container cannot reach are dropped (loopback ones, which would be
// the container's own loopback, and IPv6 ones, since the bridge is IPv4 only), every
// other line is kept, and when no nameserver remains the public fallbacks are added.
func filterResolvConf(host []byte) []byte {
	var out bytes.Buffer
	kept := 0
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		line := sc.Text()
		if addr, ok := nameserver(line); ok {
			if !reachableNameserver(addr) {
				continue
			}
			kept++
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	if kept == 0 {
		for _, ns := range fallbackNameservers {
			fmt.Fprintf(&out, "nameserver %s\n", ns)
		}
	}
	return out.Bytes()
}

// nameserver parses a "nameserver ADDR" line; a zone ("fe80::1%eth0") is ignored.
func nameserver(line string) (netip.Addr, bool) {
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "nameserver" {
		return netip.Addr{}, false
	}
	s, _, _ := strings.Cut(f[1], "%")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func reachableNameserver(a netip.Addr) bool { return a.Is4() && !a.IsLoopback() }

// onlyLoopbackNameservers reports whether every nameserver of a resolv.conf is a
// loopback address (and there is at least one).
func onlyLoopbackNameservers(conf []byte) bool {
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(conf))
	for sc.Scan() {
		if a, ok := nameserver(sc.Text()); ok {
			if !a.IsLoopback() {
				return false
			}
			n++
		}
	}
	return n > 0
}

// readHostResolvConf reads the host's resolver configuration: path, or resolved when
// path only names loopback stubs (systemd-resolved's 127.0.0.53) and resolved exists.
// A host without one yields an empty configuration (the fallbacks then apply).
func readHostResolvConf(path, resolved string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if resolved != "" && onlyLoopbackNameservers(data) {
		if up, err := os.ReadFile(resolved); err == nil {
			return up, nil
		}
	}
	return data, nil
}

// etcMounts are the mounts of a task's /etc/hosts, /etc/hostname and /etc/resolv.conf:
// files in dir for a bridge-mode task (read-only when the rootfs is), the host's for a
// host-network task (its /etc/hostname still comes from dir). A file the task mounts
// itself is left to that mount.
func etcMounts(s *runtime.TaskSpec, dir string) []specs.Mount {
	taken := map[string]bool{}
	for _, m := range s.Mounts {
		taken[filepath.Clean(m.Target)] = true
	}
	mode := "rw"
	if s.ReadOnlyRootfs {
		mode = "ro"
	}
	own := func(name string) specs.Mount {
		return specs.Mount{Type: "bind", Source: filepath.Join(dir, name), Destination: "/etc/" + name, Options: []string{"rbind", "rprivate", mode}}
	}
	host := func(name string) specs.Mount {
		return specs.Mount{Type: "bind", Source: "/etc/" + name, Destination: "/etc/" + name, Options: []string{"rbind", "rprivate", "ro"}}
	}
	var ms []specs.Mount
	if s.NetworkMode == "host" {
		ms = []specs.Mount{host(etcHosts), own(etcHostname), host(etcResolv)}
	} else {
		ms = []specs.Mount{own(etcHosts), own(etcHostname), own(etcResolv)}
	}
	out := ms[:0]
	for _, m := range ms {
		if !taken[m.Destination] {
			out = append(out, m)
		}
	}
	return out
}

// writeEtcFiles writes the files etcMounts mounts from the task's state directory:
// /etc/hostname always, /etc/hosts and /etc/resolv.conf for a bridge-mode task (addr
// valid). The hostname is the container's (its spec's), else the host's.
// resolv, when set, is the resolv.conf of the cluster's embedded DNS server (tasks on
// cluster networks) and replaces the host's.
func (c *controller) writeEtcFiles(ctx context.Context, ctr client.Container, addr netip.Addr, resolv []byte) error {
	sp, err := ctr.Spec(ctx)
	if err != nil {
		return fmt.Errorf("task %s: read spec: %w", c.id, err)
	}
	hostname := sp.Hostname
	if hostname == "" {
		if hostname, err = os.Hostname(); err != nil {
			return fmt.Errorf("task %s: host name: %w", c.id, err)
		}
	}
	files := map[string][]byte{etcHostname: []byte(hostname + "\n")}
	if addr.IsValid() {
		conf, err := readHostResolvConf(c.b.resolvConf, c.b.resolvedConf)
		if err != nil {
			return fmt.Errorf("task %s: %w", c.id, err)
		}
		files[etcHosts] = hostsFile(addr, hostname)
		files[etcResolv] = filterResolvConf(conf)
		if resolv != nil {
			files[etcResolv] = resolv // the cluster's embedded DNS server
		}
	}
	dir := c.b.taskDir(c.id)
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("task %s: write %s: %w", c.id, name, err)
		}
	}
	return nil
}
