package api

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// validateUpdateConfig checks an update or rollback policy (field names
// it as spec.update_config or spec.rollback_config).
func validateUpdateConfig(field string, c *shoalv1.UpdateConfig) error {
	if c == nil {
		return nil
	}
	if c.GetParallelism() < 0 {
		return invalidArg("%s.parallelism %d: use 0 (all at once) or more", field, c.GetParallelism())
	}
	for name, d := range map[string]interface{ AsDuration() time.Duration }{"delay": c.GetDelay(), "monitor": c.GetMonitor()} {
		if d.AsDuration() < 0 {
			return invalidArg("%s.%s %s: must not be negative", field, name, d.AsDuration())
		}
	}
	if r := c.GetMaxFailureRatio(); !(r >= 0 && r <= 1) {
		return invalidArg("%s.max_failure_ratio %v: use a share between 0 and 1", field, r)
	}
	if _, ok := shoalv1.UpdateFailureAction_name[int32(c.GetFailureAction())]; !ok {
		return invalidArg("%s.failure_action %d: use pause, continue or rollback", field, c.GetFailureAction())
	}
	if field == "spec.rollback_config" && c.GetFailureAction() == shoalv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_ROLLBACK {
		return invalidArg("%s.failure_action: a rollback cannot roll back; use pause or continue", field)
	}
	if _, ok := shoalv1.UpdateOrder_name[int32(c.GetOrder())]; !ok {
		return invalidArg("%s.order %d: use stop-first or start-first", field, c.GetOrder())
	}
	return nil
}

func validateUpdatePolicies(sp *shoalv1.ServiceSpec) error {
	if err := validateUpdateConfig("spec.update_config", sp.GetUpdateConfig()); err != nil {
		return err
	}
	return validateUpdateConfig("spec.rollback_config", sp.GetRollbackConfig())
}

// rollbackSpec is the spec a rollback of svc returns to.
func rollbackSpec(svc *shoalv1.Service) (*shoalv1.ServiceSpec, error) {
	if svc.GetPreviousSpec() == nil {
		return nil, precondition("service %s: previous_spec is empty (it was never updated): nothing to roll back to", svc.GetSpec().GetName())
	}
	return proto.CloneOf(svc.GetPreviousSpec()), nil
}

// startRoll records that the service's tasks roll to its new spec version.
func startRoll(svc *shoalv1.Service, rollback bool, now time.Time) {
	st := &shoalv1.UpdateStatus{State: shoalv1.UpdateState_UPDATE_STATE_UPDATING, StartedAt: timestamppb.New(now),
		SpecVersion: svc.GetSpecVersion(), Message: "update in progress"}
	if rollback {
		st.State, st.Message = shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_STARTED, "manually requested rollback"
	}
	svc.UpdateStatus = st
}
