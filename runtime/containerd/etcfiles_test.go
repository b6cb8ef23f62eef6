package containerd

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/runtime"
)

func TestFilterResolvConf(t *testing.T) {
	fallback := "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
	for _, tc := range []struct {
		name, host, want string
	}{
		{"empty host file", "", fallback},
		{"public nameserver kept", "nameserver 192.0.2.53\n", "nameserver 192.0.2.53\n"},
		{"systemd-resolved stub only", "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch example.test\n",
			"options edns0 trust-ad\nsearch example.test\n" + fallback},
		{"whole 127/8 and ::1 dropped, others kept in order",
			"# generated\nnameserver 127.0.0.1\nnameserver 192.0.2.1\nnameserver ::1\nnameserver 127.1.2.3\nnameserver 198.51.100.7\n",
			"# generated\nnameserver 192.0.2.1\nnameserver 198.51.100.7\n"},
		{"ipv6 nameservers dropped (the bridge is IPv4 only)", "nameserver 2001:db8::53\nnameserver fe80::1%eth0\n", fallback},
		{"ipv4-mapped loopback dropped", "nameserver ::ffff:127.0.0.1\nnameserver 192.0.2.9\n", "nameserver 192.0.2.9\n"},
		{"indented and tab separated", "  nameserver\t127.0.0.11\n\tnameserver\t192.0.2.2\n", "\tnameserver\t192.0.2.2\n"},
		{"no trailing newline", "search a.test\nnameserver 192.0.2.3", "search a.test\nnameserver 192.0.2.3\n"},
		{"unparseable nameserver line kept, not counted", "nameserver bogus\n", "nameserver bogus\n" + fallback},
		{"nameserver-like words elsewhere kept", "search nameserver.test\nnameserver 10.255.255.53\n", "search nameserver.test\nnameserver 10.255.255.53\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(filterResolvConf([]byte(tc.host))); got != tc.want {
				t.Fatalf("filterResolvConf(%q) =\n%s\nwant\n%s", tc.host, got, tc.want)
			}
		})
	}
}

func TestHostsFile(t *testing.T) {
	localhost := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
	for _, tc := range []struct {
		name, addr, host, want string
	}{
		{"address and hostname", "10.88.3.2", "web-1", localhost + "10.88.3.2\tweb-1\n"},
		{"fully qualified name also resolves by its first label", "10.88.3.9", "db.example.test", localhost + "10.88.3.9\tdb.example.test db\n"},
		{"no address", "", "web", localhost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a netip.Addr
			if tc.addr != "" {
				a = netip.MustParseAddr(tc.addr)
			}
			if got := string(hostsFile(a, tc.host)); got != tc.want {
				t.Fatalf("hostsFile = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTaskHostname(t *testing.T) {
	for _, tc := range []struct {
		spec runtime.TaskSpec
		want string
	}{
		{runtime.TaskSpec{TaskID: "abcdefghijklmnop"}, "abcdefghijkl"},
		{runtime.TaskSpec{TaskID: "short"}, "short"},
		{runtime.TaskSpec{TaskID: "t", Hostname: "set"}, "set"},
		{runtime.TaskSpec{TaskID: "t", NetworkMode: "host"}, ""},
		{runtime.TaskSpec{TaskID: "t", NetworkMode: "host", Hostname: "h"}, "h"},
	} {
		if got := taskHostname(&tc.spec); got != tc.want {
			t.Errorf("taskHostname(%+v) = %q, want %q", tc.spec, got, tc.want)
		}
	}
}

func TestEtcMounts(t *testing.T) {
	own := func(name, mode string) specs.Mount {
		return specs.Mount{Type: "bind", Source: "/state/" + name, Destination: "/etc/" + name, Options: []string{"rbind", "rprivate", mode}}
	}
	host := func(name string) specs.Mount {
		return specs.Mount{Type: "bind", Source: "/etc/" + name, Destination: "/etc/" + name, Options: []string{"rbind", "rprivate", "ro"}}
	}
	for _, tc := range []struct {
		name string
		spec runtime.TaskSpec
		want []specs.Mount
	}{
		{"bridge", runtime.TaskSpec{}, []specs.Mount{own("hosts", "rw"), own("hostname", "rw"), own("resolv.conf", "rw")}},
		{"bridge read-only rootfs", runtime.TaskSpec{ReadOnlyRootfs: true}, []specs.Mount{own("hosts", "ro"), own("hostname", "ro"), own("resolv.conf", "ro")}},
		{"host network", runtime.TaskSpec{NetworkMode: "host"}, []specs.Mount{host("hosts"), own("hostname", "rw"), host("resolv.conf")}},
		{"the task's own mount wins", runtime.TaskSpec{Mounts: []runtime.Mount{{Type: "bind", Source: "/x", Target: "/etc/resolv.conf/"}}},
			[]specs.Mount{own("hosts", "rw"), own("hostname", "rw")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, etcMounts(&tc.spec, "/state")); diff != "" {
				t.Fatalf("etcMounts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadHostResolvConf(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stub := write("stub", "nameserver 127.0.0.53\nsearch lan.test\n")
	plain := write("plain", "nameserver 192.0.2.1\n")
	upstream := write("upstream", "nameserver 198.51.100.1\n")
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name, path, resolved, want string
	}{
		{"stub only: systemd-resolved's upstream list", stub, upstream, "nameserver 198.51.100.1\n"},
		{"stub only, no upstream list", stub, missing, "nameserver 127.0.0.53\nsearch lan.test\n"},
		{"real nameserver: the file itself", plain, upstream, "nameserver 192.0.2.1\n"},
		{"no resolv.conf at all", missing, upstream, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readHostResolvConf(tc.path, tc.resolved)
			if err != nil || string(got) != tc.want {
				t.Fatalf("readHostResolvConf = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if strings.Contains(string(filterResolvConf(nil)), "127.") {
		t.Fatal("fallback contains a loopback nameserver")
	}
}

// TestContainerEtcFiles: a bridge-mode container resolves its own hostname to its
// address and gets the host's resolver configuration without loopback nameservers;
// a host-network container sees the host's /etc/hosts and /etc/resolv.conf.
func TestContainerEtcFiles(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	hostConf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(hostConf, []byte("search corp.test\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\noptions ndots:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.resolvConf, b.resolvedConf = hostConf, ""
	show := `cat /etc/hosts; echo ==; cat /etc/resolv.conf; echo ==; cat /etc/hostname; hostname; echo ==; ping -c 1 -W 5 "$(hostname)" >/dev/null && echo self-resolves`

	s := spec("etc-bridge-task", "sh", "-c", show)
	c := run(t, b, s)
	st, err := c.Wait(ctxT(t))
	if err != nil || st.ExitCode != 0 || len(st.Addresses) != 1 {
		t.Fatalf("wait = %+v, %v", st, err)
	}
	logs := collectLogs(t, c, runtime.LogOptions{Tail: -1})
	parts := strings.Split(logs, "==\n")
	if len(parts) != 4 {
		t.Fatalf("output %q", logs)
	}
	hosts, resolv, names, ping := parts[0], parts[1], parts[2], parts[3]
	hostname := "etc-bridge-t" // the task ID cut to 12 characters
	if want := "127.0.0.1\tlocalhost\n"; !strings.HasPrefix(hosts, want) {
		t.Errorf("/etc/hosts %q does not start with %q", hosts, want)
	}
	if want := st.Addresses[0] + "\t" + hostname + "\n"; !strings.HasSuffix(hosts, want) {
		t.Errorf("/etc/hosts %q lacks %q", hosts, want)
	}
	if want := "search corp.test\nnameserver 192.0.2.53\noptions ndots:2\n"; resolv != want {
		t.Errorf("/etc/resolv.conf = %q, want %q", resolv, want)
	}
	if want := hostname + "\n" + hostname + "\n"; names != want {
		t.Errorf("/etc/hostname and hostname = %q, want %q", names, want)
	}
	if ping != "self-resolves\n" {
		t.Errorf("the container's hostname does not resolve: %q", ping)
	}
	remove(t, c)

	h := spec("etc-host", "sh", "-c", `cat /etc/hosts; echo ==; cat /etc/resolv.conf`)
	h.NetworkMode = "host"
	hc := run(t, b, h)
	if st, err := hc.Wait(ctxT(t)); err != nil || st.ExitCode != 0 {
		t.Fatalf("wait = %+v, %v", st, err)
	}
	logs = collectLogs(t, hc, runtime.LogOptions{Tail: -1})
	hostHosts, _ := os.ReadFile("/etc/hosts")
	hostResolv, _ := os.ReadFile("/etc/resolv.conf")
	if want := string(hostHosts) + "==\n" + string(hostResolv); logs != want {
		t.Errorf("host-network container sees %q, want the host's files %q", logs, want)
	}
	remove(t, hc)
}
