package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func applyRebalance(t *testing.T, cur *shoalv1.RebalanceConfig, service bool, args ...string) *shoalv1.RebalanceConfig {
	t.Helper()
	var r rebalanceFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	r.register(fs, "x")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := r.apply(fs, &cur, service); err != nil {
		t.Fatal(err)
	}
	return cur
}

func TestRebalanceFlags(t *testing.T) {
	rc := applyRebalance(t, nil, true, "--rebalance", "evener", "--rebalance-interval", "5s", "--rebalance-max-moves", "3", "--rebalance-window", "1m")
	if rc.GetPlugin() != "evener" || rc.GetInterval().AsDuration().String() != "5s" || rc.GetMaxMoves() != 3 || rc.GetWindow().AsDuration().String() != "1m0s" {
		t.Fatalf("set: %v", rc)
	}
	if got := applyRebalance(t, rc, true, "--rebalance-interval", "10s"); got.GetPlugin() != "evener" || got.GetInterval().AsDuration().String() != "10s" {
		t.Fatalf("changing one setting keeps the others: %v", got)
	}
	for _, off := range [][]string{{"--rebalance-rm"}, {"--rebalance", ""}} {
		if got := applyRebalance(t, rc, true, off...); !got.GetDisabled() || got.GetPlugin() != "" {
			t.Errorf("%v on a service: %v, want disabled (overrides the cluster's)", off, got)
		}
		if got := applyRebalance(t, rc, false, off...); got != nil {
			t.Errorf("%v on the cluster: %v, want none", off, got)
		}
	}
	if got := applyRebalance(t, rc, true); got != rc {
		t.Errorf("no flags changed the config: %v", got)
	}
}

func TestRebalanceTextAndEventNote(t *testing.T) {
	if got := rebalanceText(&shoalv1.RebalanceConfig{Plugin: "evener", MaxMoves: 2}, nil); !strings.Contains(got, "evener") || !strings.Contains(got, "at most 2 moves") {
		t.Errorf("text %q", got)
	}
	if got := rebalanceText(&shoalv1.RebalanceConfig{Disabled: true}, &shoalv1.RebalanceConfig{Plugin: "evener"}); !strings.HasPrefix(got, "off") {
		t.Errorf("disabled text %q", got)
	}
	ev := &shoalv1.Event{Object: &shoalv1.StoreObject{Object: &shoalv1.StoreObject_Task{Task: &shoalv1.Task{RebalanceTarget: "n3"}}}}
	if got := rebalanceNote(ev); !strings.Contains(got, "moving to n3") {
		t.Errorf("event note %q", got)
	}
}
