package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// fakeIptables is an in-memory iptables: chains of rules (argument strings as given
// to -A) and policies, printed by -S the way iptables-nft does (comments quoted).
type fakeIptables struct {
	policy  map[string]string   // chain -> policy
	rules   map[string][]string // "table/chain" -> rule specs
	missing bool                // the binary is not installed
	appends int
}

func newFakeIptables(forwardPolicy string) *fakeIptables {
	return &fakeIptables{
		policy: map[string]string{"POSTROUTING": "ACCEPT", "FORWARD": forwardPolicy},
		rules:  map[string][]string{},
	}
}

func (f *fakeIptables) run(_ context.Context, args ...string) (string, error) {
	if f.missing {
		return "", fmt.Errorf("%w: exec: not found", errNoIptables)
	}
	if len(args) < 4 || args[0] != "-t" {
		return "", fmt.Errorf("fake iptables: unexpected %q", args)
	}
	table, op, chain, spec := args[1], args[2], args[3], strings.Join(args[4:], " ")
	key := table + "/" + chain
	i := slices.Index(f.rules[key], spec)
	switch op {
	case "-S":
		var b strings.Builder
		fmt.Fprintf(&b, "-P %s %s\n", chain, f.policy[chain])
		for _, r := range f.rules[key] {
			fs := strings.Fields(r)
			for j := range fs {
				if j > 0 && fs[j-1] == "--comment" {
					fs[j] = `"` + fs[j] + `"`
				}
			}
			fmt.Fprintf(&b, "-A %s %s\n", chain, strings.Join(fs, " "))
		}
		return b.String(), nil
	case "-C":
		if i < 0 {
			return "", errNoSuchRule
		}
		return "", nil
	case "-A":
		f.appends++
		f.rules[key] = append(f.rules[key], spec)
		return "", nil
	case "-D":
		if i < 0 {
			return "", fmt.Errorf("fake iptables: no rule %q in %s", spec, key)
		}
		f.rules[key] = slices.Delete(f.rules[key], i, i+1)
		return "", nil
	}
	return "", fmt.Errorf("fake iptables: unexpected %q", args)
}

func TestSyncAndRemoveRules(t *testing.T) {
	const (
		masq    = "-s 10.88.7.0/24 ! -o shl1 -m comment --comment shoal:shl1 -j MASQUERADE"
		fwdIn   = "-i shl1 -m comment --comment shoal:shl1 -j ACCEPT"
		fwdBack = "-o shl1 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment shoal:shl1 -j ACCEPT"
		// Rules of others: another node's bridge whose name extends ours, and a foreign one.
		otherMasq = "-s 10.88.9.0/24 ! -o shl12 -m comment --comment shoal:shl12 -j MASQUERADE"
		foreign   = "-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"
		otherFwd  = "-i shl12 -m comment --comment shoal:shl12 -j ACCEPT"
	)
	for _, tc := range []struct {
		name          string
		policy        string
		before        map[string][]string
		wantNAT       []string
		wantForward   []string
		wantAppends   int
		afterRemoveNA []string // nat after removeRules
		afterRemoveFW []string
	}{
		{
			name: "forward policy ACCEPT: only the masquerade rule", policy: "ACCEPT",
			before:  map[string][]string{"nat/POSTROUTING": {foreign, otherMasq}},
			wantNAT: []string{foreign, otherMasq, masq}, wantAppends: 1,
			afterRemoveNA: []string{foreign, otherMasq},
		},
		{
			name: "forward policy DROP: accept rules too", policy: "DROP",
			before:      map[string][]string{"filter/FORWARD": {otherFwd}},
			wantNAT:     []string{masq},
			wantForward: []string{otherFwd, fwdIn, fwdBack}, wantAppends: 3,
			afterRemoveFW: []string{otherFwd},
		},
		{
			name: "already there: nothing added", policy: "DROP",
			before:  map[string][]string{"nat/POSTROUTING": {masq}, "filter/FORWARD": {fwdBack, fwdIn}},
			wantNAT: []string{masq}, wantForward: []string{fwdBack, fwdIn}, wantAppends: 0,
		},
		{
			name: "a masquerade rule for an earlier subnet is replaced", policy: "ACCEPT",
			before: map[string][]string{"nat/POSTROUTING": {
				"-s 10.88.200.0/24 ! -o shl1 -m comment --comment shoal:shl1 -j MASQUERADE", otherMasq}},
			wantNAT: []string{otherMasq, masq}, wantAppends: 1,
			afterRemoveNA: []string{otherMasq},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeIptables(tc.policy)
			for k, v := range tc.before {
				f.rules[k] = slices.Clone(v)
			}
			ctx := context.Background()
			p := netip.MustParsePrefix("10.88.7.0/24")
			for range 2 { // the second sync changes nothing
				if err := syncRules(ctx, f.run, "shl1", p); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tc.wantNAT, f.rules["nat/POSTROUTING"], cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("nat POSTROUTING (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantForward, f.rules["filter/FORWARD"], cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("FORWARD (-want +got):\n%s", diff)
			}
			if f.appends != tc.wantAppends {
				t.Errorf("%d rules appended, want %d", f.appends, tc.wantAppends)
			}
			if err := removeRules(ctx, f.run, "shl1"); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.afterRemoveNA, f.rules["nat/POSTROUTING"], cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("nat POSTROUTING after remove (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.afterRemoveFW, f.rules["filter/FORWARD"], cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("FORWARD after remove (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEnableNATWithoutIptables: no iptables binary is a warning (once), not an error,
// and forwarding is still turned on.
func TestEnableNATWithoutIptables(t *testing.T) {
	var logs bytes.Buffer
	n, err := newNetwork("shl1", "10.88.7.0/24", filepath.Join(t.TempDir(), "ipam.json"), "ns")
	if err != nil {
		t.Fatal(err)
	}
	n.log = slog.New(slog.NewTextHandler(&logs, nil))
	n.ipt = (&fakeIptables{missing: true}).run
	n.forwardPath = filepath.Join(t.TempDir(), "ip_forward")
	if err := os.WriteFile(n.forwardPath, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := n.enableNAT(context.Background()); err != nil {
			t.Fatalf("enableNAT without iptables: %v", err)
		}
	}
	if got := strings.Count(logs.String(), "iptables not found"); got != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", got, logs.String())
	}
	if b, _ := os.ReadFile(n.forwardPath); strings.TrimSpace(string(b)) != "1" {
		t.Fatalf("ip_forward = %q", b)
	}
	// Destroy does not fail for want of iptables either.
	if err := n.destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestEnableNATErrors(t *testing.T) {
	n, err := newNetwork("shl1", "10.88.7.0/24", filepath.Join(t.TempDir(), "ipam.json"), "ns")
	if err != nil {
		t.Fatal(err)
	}
	n.forwardPath = filepath.Join(t.TempDir(), "no-such-dir", "ip_forward")
	n.ipt = newFakeIptables("ACCEPT").run
	if err := n.enableNAT(context.Background()); err == nil {
		t.Fatal("enableNAT with an unreadable ip_forward succeeded")
	}
	n.forwardPath = filepath.Join(t.TempDir(), "ip_forward")
	if err := os.WriteFile(n.forwardPath, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	broken := errors.New("table nat missing")
	n.ipt = func(context.Context, ...string) (string, error) { return "", broken }
	if err := n.enableNAT(context.Background()); !errors.Is(err, broken) {
		t.Fatalf("enableNAT with failing iptables = %v, want %v", err, broken)
	}
}

func TestDestroyRefusesWhileAddressesAreHeld(t *testing.T) {
	n, err := newNetwork("shl1", "10.88.7.0/24", filepath.Join(t.TempDir(), "ipam.json"), "ns")
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeIptables("ACCEPT")
	f.rules["nat/POSTROUTING"] = []string{"-s 10.88.7.0/24 ! -o shl1 -m comment --comment shoal:shl1 -j MASQUERADE"}
	n.ipt = f.run
	if _, err := n.allocate("t1"); err != nil {
		t.Fatal(err)
	}
	if err := n.destroy(context.Background()); !errors.Is(err, ErrTasksRemain) {
		t.Fatalf("destroy with an address held = %v, want ErrTasksRemain", err)
	}
	if len(f.rules["nat/POSTROUTING"]) != 1 {
		t.Fatal("destroy removed rules while refusing")
	}
	if err := n.release("t1"); err != nil {
		t.Fatal(err)
	}
	if err := n.destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.rules["nat/POSTROUTING"]) != 0 {
		t.Fatalf("rules left: %v", f.rules)
	}
	if _, err := os.Stat(n.file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ipam state left: %v", err)
	}
}

func TestSweepOrphanRules(t *testing.T) {
	f := newFakeIptables("DROP")
	live := "-s 10.88.1.0/24 ! -o shlaaaa -m comment --comment shoal:shlaaaa -j MASQUERADE"
	gone := "-s 10.88.2.0/24 ! -o shlbbbb -m comment --comment shoal:shlbbbb -j MASQUERADE"
	foreign := "-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"
	foreignComment := "-s 172.18.0.0/16 ! -o br0 -m comment --comment other:shlbbbb -j MASQUERADE"
	goneFwd := "-i shlbbbb -m comment --comment shoal:shlbbbb -j ACCEPT"
	liveFwd := "-i shlaaaa -m comment --comment shoal:shlaaaa -j ACCEPT"
	f.rules["nat/POSTROUTING"] = []string{live, gone, foreign, foreignComment}
	f.rules["filter/FORWARD"] = []string{goneFwd, liveFwd}
	n, err := sweepOrphanRules(context.Background(), f.run, func(b string) bool { return b == "shlaaaa" })
	if err != nil || n != 2 {
		t.Fatalf("sweep = %d, %v; want 2 rules removed", n, err)
	}
	if diff := cmp.Diff([]string{live, foreign, foreignComment}, f.rules["nat/POSTROUTING"]); diff != "" {
		t.Errorf("nat POSTROUTING (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{liveFwd}, f.rules["filter/FORWARD"]); diff != "" {
		t.Errorf("FORWARD (-want +got):\n%s", diff)
	}
}
