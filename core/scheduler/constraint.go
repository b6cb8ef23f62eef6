package scheduler

import (
	"fmt"

	"github.com/shoal-project/shoal/sdk/policy/filter"
)

// ErrInvalidConstraint is wrapped by ValidateConstraint and
// ValidatePreference errors.
var ErrInvalidConstraint = filter.ErrInvalidConstraint

// ValidateConstraint checks the syntax of a placement constraint:
// KEY==VALUE or KEY!=VALUE with KEY one of node.id, node.hostname,
// node.role (value manager or worker) or node.labels.NAME. The API uses it
// to refuse bad specs with InvalidArgument.
func ValidateConstraint(s string) error {
	if _, err := filter.ParseConstraint(s); err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	return nil
}

// ValidatePreference checks a spread preference descriptor
// (node.labels.NAME).
func ValidatePreference(s string) error {
	if _, err := filter.PreferenceLabel(s); err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	return nil
}
