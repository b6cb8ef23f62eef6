package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func TestUpdatePolicyFlags(t *testing.T) {
	swarm := func() *shoalv1.UpdateConfig {
		return &shoalv1.UpdateConfig{Parallelism: 1, Monitor: durationpb.New(5 * time.Second)}
	}
	for _, tc := range []struct {
		name           string
		args           []string
		have           *shoalv1.UpdateConfig // the service's update config before
		update, rollbk *shoalv1.UpdateConfig
		wantErr        string
	}{
		{"no flag leaves no config", nil, nil, nil, nil, ""},
		{"no flag keeps the config", nil, &shoalv1.UpdateConfig{Parallelism: 4}, &shoalv1.UpdateConfig{Parallelism: 4}, nil, ""},
		{"one flag starts from swarm's defaults", []string{"--update-delay", "2s"}, nil,
			&shoalv1.UpdateConfig{Parallelism: 1, Monitor: durationpb.New(5 * time.Second), Delay: durationpb.New(2 * time.Second)}, nil, ""},
		{"every update flag", []string{"--update-parallelism", "0", "--update-monitor", "0s", "--update-failure-action", "rollback",
			"--update-max-failure-ratio", "0.25", "--update-order", "start-first"}, nil,
			&shoalv1.UpdateConfig{Monitor: durationpb.New(0), FailureAction: shoalv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_ROLLBACK,
				MaxFailureRatio: 0.25, Order: shoalv1.UpdateOrder_UPDATE_ORDER_START_FIRST}, nil, ""},
		{"rollback flags set the rollback config", []string{"--rollback-failure-action", "continue"}, nil, nil,
			func() *shoalv1.UpdateConfig {
				c := swarm()
				c.FailureAction = shoalv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_CONTINUE
				return c
			}(), ""},
		{"changes only what is given", []string{"--update-parallelism", "3"}, &shoalv1.UpdateConfig{Parallelism: 1, Delay: durationpb.New(time.Second)},
			&shoalv1.UpdateConfig{Parallelism: 3, Delay: durationpb.New(time.Second)}, nil, ""},
		{"unknown failure action", []string{"--update-failure-action", "explode"}, nil, nil, nil, `--update-failure-action "explode": use pause, continue or rollback`},
		{"a rollback cannot roll back", []string{"--rollback-failure-action", "rollback"}, nil, nil, nil, "--rollback-failure-action"},
		{"unknown order", []string{"--rollback-order", "last"}, nil, nil, nil, `--rollback-order "last": use stop-first or start-first`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p policyFlags
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			p.register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			sp := &shoalv1.ServiceSpec{UpdateConfig: proto.CloneOf(tc.have)}
			err := p.apply(fs, sp)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error with %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(sp.GetUpdateConfig(), tc.update) || !proto.Equal(sp.GetRollbackConfig(), tc.rollbk) {
				t.Fatalf("update %v (want %v), rollback %v (want %v)", sp.GetUpdateConfig(), tc.update, sp.GetRollbackConfig(), tc.rollbk)
			}
		})
	}
}

func TestRollOutcomeEndsTheWait(t *testing.T) {
	svc := func(st shoalv1.UpdateState, version uint64) *shoalv1.Service {
		return &shoalv1.Service{SpecVersion: 2, UpdateStatus: &shoalv1.UpdateStatus{State: st, SpecVersion: version, Message: "why"}}
	}
	for _, tc := range []struct {
		name     string
		svc      *shoalv1.Service
		rollback bool // the command asked for a rollback
		done     bool
		line     string
		err      string
	}{
		{"never rolled", &shoalv1.Service{SpecVersion: 1}, false, true, "", ""},
		{"a roll the command did not start", &shoalv1.Service{SpecVersion: 1, UpdateStatus: &shoalv1.UpdateStatus{
			State: shoalv1.UpdateState_UPDATE_STATE_PAUSED, SpecVersion: 1}}, false, true, "", ""},
		{"status of an older version", svc(shoalv1.UpdateState_UPDATE_STATE_UPDATING, 1), false, true, "", ""},
		{"updating", svc(shoalv1.UpdateState_UPDATE_STATE_UPDATING, 2), false, false, "", ""},
		{"completed", svc(shoalv1.UpdateState_UPDATE_STATE_COMPLETED, 2), false, true, "", ""},
		{"paused", svc(shoalv1.UpdateState_UPDATE_STATE_PAUSED, 2), false, false, "", "service web: why"},
		{"rolling back", svc(shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_STARTED, 2), false, false, "rollback: why", ""},
		{"rolled back unasked", svc(shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_COMPLETED, 2), false, false, "rollback: why", "back on its previous spec: why"},
		{"rolled back as asked", svc(shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_COMPLETED, 2), true, true, "rollback: why", ""},
		{"rollback paused", svc(shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_PAUSED, 2), true, false, "rollback: why", "service web: why"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done, line, err := rollOutcome(tc.svc, "web", rollWait{from: 1, rollback: tc.rollback})
			if done != tc.done || line != tc.line || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got done %v, line %q, err %v; want %v, %q, %q", done, line, err, tc.done, tc.line, tc.err)
			}
		})
	}
}

func TestWaitFollowsTheRollTheCommandStarted(t *testing.T) {
	st := func(s shoalv1.UpdateState, v uint64) *shoalv1.Service {
		return &shoalv1.Service{SpecVersion: 3, UpdateStatus: &shoalv1.UpdateStatus{State: s, SpecVersion: v}}
	}
	for _, tc := range []struct {
		name string
		svc  *shoalv1.Service
		from uint64
	}{
		{"a template change", st(shoalv1.UpdateState_UPDATE_STATE_UPDATING, 3), 2},
		{"a rollback", st(shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_STARTED, 3), 2},
		{"a scale after a finished roll", st(shoalv1.UpdateState_UPDATE_STATE_COMPLETED, 3), 3},
		{"a scale of a paused roll", st(shoalv1.UpdateState_UPDATE_STATE_PAUSED, 3), 3},
		{"never rolled", &shoalv1.Service{SpecVersion: 1}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rollStarted(tc.svc, false).from; got != tc.from {
				t.Fatalf("from %d, want %d", got, tc.from)
			}
		})
	}
}
