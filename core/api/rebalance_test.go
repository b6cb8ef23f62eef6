package api

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/plugins"
)

func TestInstallingAScheduleOnlyModuleAsARebalancerIsAFailedPrecondition(t *testing.T) {
	missing := &plugins.CallError{Op: "validate", Plugin: "abc", Err: plugins.ErrMissingExport, Detail: "missing export shoal_rebalance"}
	err := installError(shoalv1.PluginKind_PLUGIN_KIND_REBALANCER, missing)
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "shoal_rebalance") {
		t.Fatalf("got %v (%v), want FailedPrecondition naming shoal_rebalance", err, connect.CodeOf(err))
	}
	if err := installError(shoalv1.PluginKind_PLUGIN_KIND_SCHEDULER, fmt.Errorf("x: %w", plugins.ErrInvalidModule)); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("a broken module: %v, want InvalidArgument", connect.CodeOf(err))
	}
}

func TestValidateRebalanceNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		rc   *shoalv1.RebalanceConfig
		want string
	}{
		{&shoalv1.RebalanceConfig{Plugin: "evener", Interval: durationpb.New(100 * time.Millisecond)}, "spec.rebalance.interval"},
		{&shoalv1.RebalanceConfig{Plugin: "evener", Window: durationpb.New(-time.Second)}, "spec.rebalance.window"},
		{&shoalv1.RebalanceConfig{Plugin: "evener", MaxMoves: 5000}, "spec.rebalance.max_moves"},
		{&shoalv1.RebalanceConfig{Plugin: "evener", Disabled: true}, "not both"},
	} {
		err := validateRebalance("spec.rebalance", tc.rc)
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want InvalidArgument naming %q", tc.rc, err, tc.want)
		}
	}
	if err := validateRebalance("spec.rebalance", &shoalv1.RebalanceConfig{Plugin: "evener", Interval: durationpb.New(5 * time.Second)}); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

func TestGlobalServicesCannotBeRebalanced(t *testing.T) {
	sp := &shoalv1.ServiceSpec{Mode: &shoalv1.ServiceSpec_Global{Global: &shoalv1.GlobalMode{}}, Rebalance: &shoalv1.RebalanceConfig{Plugin: "evener"}}
	if err := validateServiceRebalance(sp); connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "global") {
		t.Fatalf("global service with a rebalancer: %v", err)
	}
}

func TestARebalancerInUseIsNotRemoved(t *testing.T) {
	svcs := []*shoalv1.Service{{Spec: &shoalv1.ServiceSpec{Name: "web", Rebalance: &shoalv1.RebalanceConfig{Plugin: "mine"}}}}
	st := store.NewLocal()
	_ = st.View(func(tx store.ReadTx) error {
		if err := rebalancerInUse(tx, "mine", svcs); connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "web") {
			t.Errorf("in use by web: %v", err)
		}
		if err := rebalancerInUse(tx, "other", svcs); err != nil {
			t.Errorf("unused: %v", err)
		}
		return nil
	})
}
