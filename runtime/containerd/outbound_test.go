package containerd

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/testenv"
	"github.com/shoal-project/shoal/runtime"
)

// outsideHost is a network namespace standing for a machine beyond the node: joined
// to the host by a veth pair on its own 198.18.x.y/30 and with no other route, so it
// can answer a bridge-mode container only when the container's traffic leaves the
// host masqueraded behind the host's end of the pair. It serves HTTP, answering with
// the address the request came from.
type outsideHost struct {
	netns        string
	hostIP, addr netip.Addr // the host's end, the namespace's end
	url          string
}

func newOutsideHost(t *testing.T) *outsideHost {
	t.Helper()
	ctx := ctxT(t)
	suffix := fmt.Sprintf("%08x", rand.Uint32())
	o := &outsideHost{netns: "shoaltest-out-" + suffix}
	veth := "vto" + suffix
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if _, err := os.Stat(netnsPath(o.netns)); err == nil {
			if err := ip(ctx, "netns", "delete", o.netns); err != nil {
				t.Errorf("outside netns left behind: %v", err)
			}
		}
		if linkExists(veth) {
			_ = ip(ctx, "link", "delete", veth)
		}
	})
	must := func(args ...string) {
		t.Helper()
		if err := ip(ctx, args...); err != nil {
			t.Fatal(err)
		}
	}
	must("netns", "add", o.netns)
	must("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", o.netns)
	// A /30 no interface of the host holds, chosen under the lock the bridges use.
	func() {
		unlock, err := lockHost()
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		taken, _, err := hostPrefixes("")
		if err != nil {
			t.Fatal(err)
		}
		for range 1000 {
			n := rand.Uint32N(1 << 15) // 198.18.0.0/15 holds 2^15 /30s
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18 + byte(n>>14), byte(n >> 6), byte(n<<2) & 0xfc}), 30)
			if !overlapsAny(p, taken) {
				o.hostIP, o.addr = p.Addr().Next(), p.Addr().Next().Next()
				break
			}
		}
		if !o.hostIP.IsValid() {
			t.Fatal("no free /30 in 198.18.0.0/15")
		}
		must("addr", "add", o.hostIP.String()+"/30", "dev", veth)
	}()
	must("link", "set", veth, "up")
	must("-n", o.netns, "link", "set", "lo", "up")
	must("-n", o.netns, "addr", "add", o.addr.String()+"/30", "dev", "eth0")
	must("-n", o.netns, "link", "set", "eth0", "up")
	out, err := execCombined(ctx, "ip", "-n", o.netns, "-4", "route", "show")
	if err != nil || strings.Contains(out, "default") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("outside netns routes %q, %v: want only its /30", out, err)
	}

	ln, err := listenInNetns(netnsPath(o.netns), net.JoinHostPort(o.addr.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			fmt.Fprintf(w, "outside says hello to %s\n", host)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	o.url = "http://" + ln.Addr().String() + "/"
	return o
}

// listenInNetns opens a TCP listener in the network namespace at nsPath. The socket
// stays in that namespace; the thread that made it is put back into its own one (or,
// failing that, dies with its goroutine).
func listenInNetns(nsPath, addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		goruntime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			goruntime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		target, err := os.Open(nsPath)
		if err != nil {
			goruntime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			goruntime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("setns %s: %w", nsPath, err)}
			return
		}
		ln, err := net.Listen("tcp", addr)
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it ends with this goroutine.
			if ln != nil {
				ln.Close()
			}
			ch <- result{err: fmt.Errorf("setns back: %w", err)}
			return
		}
		goruntime.UnlockOSThread()
		ch <- result{ln, err}
	}()
	r := <-ch
	return r.ln, r.err
}

func execCombined(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// natRulesOf lists the iptables rules (nat POSTROUTING and FORWARD) of bridge.
func natRulesOf(t *testing.T, bridge string) [][]string {
	t.Helper()
	var all [][]string
	for _, tc := range [][2]string{{"nat", "POSTROUTING"}, {"filter", "FORWARD"}} {
		rs, _, err := taggedRules(ctxT(t), execIptables, tc[0], tc[1], bridge)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, rs...)
	}
	return all
}

// runToExit runs a task to its end and returns its exit code and output.
func runToExit(t *testing.T, b *Backend, s *runtime.TaskSpec) (int, string) {
	t.Helper()
	c := run(t, b, s)
	st, err := c.Wait(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	logs := collectLogs(t, c, runtime.LogOptions{Tail: -1})
	remove(t, c)
	return st.ExitCode, logs
}

// TestOutboundNATReachesBeyondTheHost: a bridge-mode container reaches a server in a
// namespace that has no route back to the bridge — which only works masqueraded —
// and the server sees the host's address; Teardown removes the rule, a new container
// brings it back, and without it the server is out of reach.
func TestOutboundNATReachesBeyondTheHost(t *testing.T) {
	e := newEnv(t)
	if _, err := execIptables(ctxT(t), "-t", "nat", "-S", "POSTROUTING"); err != nil {
		t.Fatalf("iptables (scripts/install-deps.sh installs it): %v", err)
	}
	b := e.backend()
	out := newOutsideHost(t)
	wantSeen := "outside says hello to " + out.hostIP.String()

	// The netns may take a moment to answer on a busy machine: retry for a while.
	// (Debian's busybox wget crashes with -T: timeout bounds each attempt instead.)
	retry := fmt.Sprintf(`for i in $(seq 1 20); do if timeout 5 wget -q -O - %s; then exit 0; fi; sleep 1; done; exit 1`, out.url)
	code, logs := runToExit(t, b, spec("nat-client", "sh", "-c", retry))
	if code != 0 || !strings.Contains(logs, wantSeen) {
		t.Fatalf("container via NAT: exit %d, output %q; want %q", code, logs, wantSeen)
	}
	if rs := natRulesOf(t, e.cfg.BridgeName); len(rs) == 0 {
		t.Fatal("no rule of the bridge found")
	}
	if err := b.Teardown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if rs := natRulesOf(t, e.cfg.BridgeName); len(rs) != 0 {
		t.Fatalf("rules left after Teardown: %q", rs)
	}
	if linkExists(e.cfg.BridgeName) {
		t.Fatal("bridge left after Teardown")
	}

	// The next container sets the network up again, masquerade included...
	code, logs = runToExit(t, b, spec("nat-again", "sh", "-c", retry))
	if code != 0 || !strings.Contains(logs, wantSeen) {
		t.Fatalf("container via NAT after Teardown: exit %d, output %q", code, logs)
	}
	// ...and without the masquerade rule the outside host cannot answer.
	if err := removeRules(ctxT(t), execIptables, e.cfg.BridgeName); err != nil {
		t.Fatal(err)
	}
	// (Not the last command: exec'd as PID 1, timeout's SIGTERM would be ignored.)
	code, logs = runToExit(t, b, spec("nat-none", "sh", "-c", fmt.Sprintf(`timeout 5 wget -q -O - %s; exit $?`, out.url)))
	if code == 0 || strings.Contains(logs, "hello") {
		t.Fatalf("without masquerade the container still got through: exit %d, output %q", code, logs)
	}
	if err := b.Teardown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// TestTeardownRemovesBridgeRulesAndFiles: Teardown refuses while a container
// remains, then leaves no bridge, rule, address state or task file behind.
func TestTeardownRemovesBridgeRulesAndFiles(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	c := run(t, b, spec("td", "sleep", "600"))
	for _, f := range []string{etcHosts, etcHostname, etcResolv} {
		if _, err := os.Stat(b.taskDir("td") + "/" + f); err != nil {
			t.Fatalf("task file %s: %v", f, err)
		}
	}
	if !linkExists(e.cfg.BridgeName) || len(natRulesOf(t, e.cfg.BridgeName)) == 0 {
		t.Fatal("bridge or its rules missing while a container runs")
	}
	if err := b.Teardown(ctxT(t)); !errors.Is(err, ErrTasksRemain) {
		t.Fatalf("Teardown with a container = %v, want ErrTasksRemain", err)
	}
	if !linkExists(e.cfg.BridgeName) || len(natRulesOf(t, e.cfg.BridgeName)) == 0 {
		t.Fatal("refused Teardown removed the bridge or its rules")
	}
	remove(t, c)
	if _, err := os.Stat(b.taskDir("td")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("task files left after Remove: %v", err)
	}
	// A host-network container also holds the node.
	h := spec("td-host", "sleep", "600")
	h.NetworkMode = "host"
	hc := run(t, b, h)
	if err := b.Teardown(ctxT(t)); !errors.Is(err, ErrTasksRemain) {
		t.Fatalf("Teardown with a host-network container = %v, want ErrTasksRemain", err)
	}
	remove(t, hc)

	if err := b.Teardown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	links, err := execCombined(ctxT(t), "ip", "-o", "link", "show")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(links, e.cfg.BridgeName) {
		t.Fatalf("bridge %s still in ip link:\n%s", e.cfg.BridgeName, links)
	}
	for _, table := range []string{"nat", "filter"} {
		rules, err := execIptables(ctxT(t), "-t", table, "-S")
		if err != nil {
			t.Fatal(err)
		}
		if hasToken(rules, ruleTag(e.cfg.BridgeName)) {
			t.Fatalf("iptables -t %s -S still has %s:\n%s", table, ruleTag(e.cfg.BridgeName), rules)
		}
	}
	for _, f := range []string{e.stateDir + "/ipam.json", b.taskDir("td"), b.taskDir("td-host")} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s left after Teardown: %v", f, err)
		}
	}
	if err := b.Teardown(ctxT(t)); err != nil { // idempotent
		t.Fatalf("second Teardown: %v", err)
	}
}

// hasToken reports whether text holds tok as a whole (possibly quoted) word.
func hasToken(text, tok string) bool {
	for _, f := range strings.Fields(text) {
		if strings.Trim(f, `"`) == tok {
			return true
		}
	}
	return false
}

// TestRulesWithRealIptables runs syncRules and removeRules against the real iptables
// in a network namespace of the test's own whose FORWARD policy is DROP, so the
// FORWARD path is exercised without touching the host's firewall.
func TestRulesWithRealIptables(t *testing.T) {
	testenv.Root(t, "it creates a network namespace")
	if _, err := exec.LookPath("iptables"); err != nil {
		testenv.Missing(t, "iptables not installed (apt-get install iptables)")
	}
	ctx := ctxT(t)
	ns := fmt.Sprintf("shoaltest-ipt-%08x", rand.Uint32())
	if err := ip(ctx, "netns", "add", ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ip(context.Background(), "netns", "delete", ns) })
	ipt := func(ctx context.Context, args ...string) (string, error) {
		return runIptables(ctx, []string{"ip", "netns", "exec", ns}, args)
	}
	if _, err := ipt(ctx, "-t", "filter", "-P", "FORWARD", "DROP"); err != nil {
		t.Fatal(err)
	}
	const bridge = "shltest0"
	p := netip.MustParsePrefix("10.88.250.0/24")
	for range 2 {
		if err := syncRules(ctx, ipt, bridge, p); err != nil {
			t.Fatal(err)
		}
	}
	nat, _, err := taggedRules(ctx, ipt, "nat", "POSTROUTING", bridge)
	if err != nil {
		t.Fatal(err)
	}
	fwd, policy, err := taggedRules(ctx, ipt, "filter", "FORWARD", bridge)
	if err != nil {
		t.Fatal(err)
	}
	if policy != "DROP" || len(nat) != 1 || len(fwd) != 2 {
		t.Fatalf("after sync: nat %q, forward %q (policy %s); want 1 and 2 rules", nat, fwd, policy)
	}
	if want := masqueradeRule(bridge, p).spec; strings.Join(nat[0], " ") != strings.Join(want, " ") {
		t.Fatalf("iptables -S prints %q, want %q", nat[0], want)
	}
	// Another subnet replaces the masquerade rule.
	p2 := netip.MustParsePrefix("10.88.251.0/24")
	if err := syncRules(ctx, ipt, bridge, p2); err != nil {
		t.Fatal(err)
	}
	if nat, _, _ = taggedRules(ctx, ipt, "nat", "POSTROUTING", bridge); len(nat) != 1 || nat[0][1] != p2.String() {
		t.Fatalf("after a new subnet: %q", nat)
	}
	if err := removeRules(ctx, ipt, bridge); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"nat", "filter"} {
		out, err := ipt(ctx, "-t", table, "-S")
		if err != nil {
			t.Fatal(err)
		}
		if hasToken(out, ruleTag(bridge)) {
			t.Fatalf("rules left in %s:\n%s", table, out)
		}
	}
}
