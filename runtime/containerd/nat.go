package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
)

// Outbound connectivity of bridge-mode containers, as Docker's default bridge has it:
// the host forwards IPv4 (net.ipv4.ip_forward), and the bridge's subnet is masqueraded
// behind the host's address on every other output interface
//
//	-t nat POSTROUTING -s SUBNET ! -o BRIDGE -m comment --comment shoal:BRIDGE -j MASQUERADE
//
// When the host's FORWARD policy is not ACCEPT, traffic from the bridge and replies
// to it are accepted too
//
//	FORWARD -i BRIDGE -m comment --comment shoal:BRIDGE -j ACCEPT
//	FORWARD -o BRIDGE -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment shoal:BRIDGE -j ACCEPT
//
// Every rule carries the comment shoal:BRIDGE, which is how removeRules finds them.
// Rules are added only when missing (iptables -C first).

var (
	// errNoIptables means the iptables binary is not installed: containers then work
	// on the node but reach nothing beyond it.
	errNoIptables = errors.New("iptables not installed")
	// errNoSuchRule is iptables -C's answer for a rule that is not there (exit 1).
	errNoSuchRule = errors.New("iptables: no such rule")
)

// iptablesFunc runs iptables with args and returns its standard output.
type iptablesFunc func(ctx context.Context, args ...string) (string, error)

// execIptables runs the host's iptables, waiting for the xtables lock that other
// programs (and other shoal nodes on this host) may hold.
func execIptables(ctx context.Context, args ...string) (string, error) {
	return runIptables(ctx, nil, args)
}

// runIptables runs iptables with args, behind the command prefix if any (e.g. "ip
// netns exec NS").
func runIptables(ctx context.Context, prefix, args []string) (string, error) {
	bin, err := exec.LookPath("iptables")
	if err != nil {
		return "", fmt.Errorf("%w: %v", errNoIptables, err)
	}
	argv := append(append(append([]string{}, prefix...), bin, "-w", "30"), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), nil
	case errors.As(err, &ee) && ee.ExitCode() == 1 && hasArg(args, "-C"):
		return "", fmt.Errorf("%w: %s", errNoSuchRule, strings.TrimSpace(errOut.String()))
	default:
		return "", fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
}

func hasArg(args []string, a string) bool {
	for _, x := range args {
		if x == a {
			return true
		}
	}
	return false
}

// ruleTag is the comment on every rule of bridge.
func ruleTag(bridge string) string { return "shoal:" + bridge }

// rule is one iptables rule: table, chain and match/target arguments.
type rule struct {
	table, chain string
	spec         []string
}

func (r rule) args(op string) []string {
	return append([]string{"-t", r.table, op, r.chain}, r.spec...)
}

// masqueradeRule is the NAT rule of bridge with subnet p.
func masqueradeRule(bridge string, p netip.Prefix) rule {
	return rule{"nat", "POSTROUTING", []string{"-s", p.String(), "!", "-o", bridge, "-m", "comment", "--comment", ruleTag(bridge), "-j", "MASQUERADE"}}
}

// forwardRules accept bridge's outgoing traffic and the replies to it.
func forwardRules(bridge string) []rule {
	tag := ruleTag(bridge)
	return []rule{
		{"filter", "FORWARD", []string{"-i", bridge, "-m", "comment", "--comment", tag, "-j", "ACCEPT"}},
		{"filter", "FORWARD", []string{"-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-m", "comment", "--comment", tag, "-j", "ACCEPT"}},
	}
}

// chainRule is one rule of a chain as iptables -S prints it: its arguments without
// "-A CHAIN", quotes removed, and the shoal bridge its tag names ("" for none).
type chainRule struct {
	spec   []string
	bridge string
}

// listRules lists the rules and the policy of table/chain.
func listRules(ctx context.Context, ipt iptablesFunc, table, chain string) (rules []chainRule, policy string, err error) {
	out, err := ipt(ctx, "-t", table, "-S", chain)
	if err != nil {
		return nil, "", err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "-P" && f[1] == chain {
			policy = f[2]
			continue
		}
		if len(f) < 2 || f[0] != "-A" || f[1] != chain {
			continue
		}
		r := chainRule{spec: make([]string, 0, len(f)-2)}
		for _, a := range f[2:] {
			a = strings.Trim(a, `"`)
			if n := len(r.spec); n > 0 && r.spec[n-1] == "--comment" && strings.HasPrefix(a, "shoal:") {
				r.bridge = strings.TrimPrefix(a, "shoal:")
			}
			r.spec = append(r.spec, a)
		}
		rules = append(rules, r)
	}
	return rules, policy, nil
}

// taggedRules lists the rules of table/chain carrying bridge's tag, as argument lists.
func taggedRules(ctx context.Context, ipt iptablesFunc, table, chain, bridge string) (specs [][]string, policy string, err error) {
	rules, policy, err := listRules(ctx, ipt, table, chain)
	if err != nil {
		return nil, "", err
	}
	for _, r := range rules {
		if r.bridge == bridge {
			specs = append(specs, r.spec)
		}
	}
	return specs, policy, nil
}

// ruleChains are the chains shoal puts rules in (nat PREROUTING and OUTPUT:
// host-mode published ports, hostports.go).
var ruleChains = [][2]string{{"nat", "POSTROUTING"}, {"filter", "FORWARD"}, {"nat", "PREROUTING"}, {"nat", "OUTPUT"}}

// sweepOrphanRules deletes the rules of shoal bridges that no longer exist (exists
// says which do): those of a node that went away without Teardown, e.g. a test's or
// one whose host lost its bridges. It returns how many it deleted.
func sweepOrphanRules(ctx context.Context, ipt iptablesFunc, exists func(bridge string) bool) (int, error) {
	n := 0
	var errs []error
	for _, tc := range ruleChains {
		rules, _, err := listRules(ctx, ipt, tc[0], tc[1])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range rules {
			if r.bridge == "" || exists(r.bridge) {
				continue
			}
			if _, err := ipt(ctx, rule{tc[0], tc[1], r.spec}.args("-D")...); err != nil {
				errs = append(errs, err)
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}

// ensureRule adds r unless it is there already.
func ensureRule(ctx context.Context, ipt iptablesFunc, r rule) error {
	_, err := ipt(ctx, r.args("-C")...)
	if err == nil {
		return nil
	}
	if !errors.Is(err, errNoSuchRule) {
		return err
	}
	_, err = ipt(ctx, r.args("-A")...)
	return err
}

// syncRules makes the host's rules for bridge with subnet p what the package comment
// says: masquerade rules for another subnet (an earlier life of the bridge) are
// deleted, missing rules are added.
func syncRules(ctx context.Context, ipt iptablesFunc, bridge string, p netip.Prefix) error {
	want := masqueradeRule(bridge, p)
	have, _, err := taggedRules(ctx, ipt, want.table, want.chain, bridge)
	if err != nil {
		return err
	}
	for _, spec := range have {
		if len(spec) >= 2 && spec[0] == "-s" && spec[1] == p.String() {
			continue
		}
		if _, err := ipt(ctx, rule{want.table, want.chain, spec}.args("-D")...); err != nil {
			return err
		}
	}
	if err := ensureRule(ctx, ipt, want); err != nil {
		return err
	}
	_, policy, err := taggedRules(ctx, ipt, "filter", "FORWARD", bridge)
	if err != nil {
		return err
	}
	if policy == "ACCEPT" {
		return nil
	}
	for _, r := range forwardRules(bridge) {
		if err := ensureRule(ctx, ipt, r); err != nil {
			return err
		}
	}
	return nil
}

// removeRules deletes every rule carrying bridge's tag.
func removeRules(ctx context.Context, ipt iptablesFunc, bridge string) error {
	var errs []error
	for _, tc := range ruleChains {
		have, _, err := taggedRules(ctx, ipt, tc[0], tc[1], bridge)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, spec := range have {
			if _, err := ipt(ctx, rule{tc[0], tc[1], spec}.args("-D")...); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// enableIPForward turns on IPv4 forwarding (path is net.ipv4.ip_forward's file) unless
// it is on. It is host-wide and stays on: other bridges may rely on it.
func enableIPForward(path string) error {
	cur, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if strings.TrimSpace(string(cur)) == "1" {
		return nil
	}
	if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("enable IPv4 forwarding: %w", err)
	}
	return nil
}
