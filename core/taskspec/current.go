package taskspec

import (
	"slices"

	"google.golang.org/protobuf/proto"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// Current reports whether t runs svc's spec: it was made from the current
// spec version, or the service is rolling back and t already runs the
// template (and networks) the rollback returns to, so it need not be
// replaced. The orchestrator replaces the tasks that are not current; the
// CLI counts the ones that are.
func Current(t *shoalv1.Task, svc *shoalv1.Service) bool {
	if t.GetSpecVersion() == svc.GetSpecVersion() {
		return true
	}
	return RollingBack(svc) && proto.Equal(t.GetSpec(), svc.GetSpec().GetTask()) && sameNetworks(t, svc)
}

// RollingBack reports whether svc's current spec version is a rollback.
func RollingBack(svc *shoalv1.Service) bool {
	st := svc.GetUpdateStatus()
	if st.GetSpecVersion() != svc.GetSpecVersion() {
		return false
	}
	switch st.GetState() {
	case shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_STARTED, shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_PAUSED,
		shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_COMPLETED:
		return true
	}
	return false
}

func sameNetworks(t *shoalv1.Task, svc *shoalv1.Service) bool {
	var have []string
	for _, a := range t.GetNetworks() {
		have = append(have, a.GetNetworkId())
	}
	want := slices.Clone(svc.GetSpec().GetNetworks())
	slices.Sort(have)
	slices.Sort(want)
	return slices.Equal(have, want)
}
