package sdk

import "fmt"

// MarshalText renders "active", "pause" or "drain" (for JSON fixtures).
func (a Availability) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText accepts "active", "pause" or "drain".
func (a *Availability) UnmarshalText(b []byte) error {
	switch string(b) {
	case "active", "":
		*a = AvailabilityActive
	case "pause":
		*a = AvailabilityPause
	case "drain":
		*a = AvailabilityDrain
	default:
		return fmt.Errorf("unknown availability %q", b)
	}
	return nil
}

// MarshalText renders "worker" or "manager".
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText accepts "worker" or "manager".
func (r *Role) UnmarshalText(b []byte) error {
	switch string(b) {
	case "worker", "":
		*r = RoleWorker
	case "manager":
		*r = RoleManager
	default:
		return fmt.Errorf("unknown role %q", b)
	}
	return nil
}
