package dispatcher

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrVersionMismatch is returned (as FailedPrecondition) to agents whose
// version the dispatcher does not serve.
var ErrVersionMismatch = errors.New("dispatcher: agent version not supported")

// ErrBadVersion is returned for a version that is not "major.minor[.patch]".
var ErrBadVersion = errors.New("dispatcher: malformed version")

type semver struct{ major, minor int }

// parseVersion reads "v?MAJOR.MINOR[.PATCH][-pre][+build]".
func parseVersion(s string) (semver, error) {
	v := strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return semver{}, fmt.Errorf("%w: %q", ErrBadVersion, s)
	}
	var nums [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return semver{}, fmt.Errorf("%w: %q", ErrBadVersion, s)
		}
		nums[i] = n
	}
	return semver{nums[0], nums[1]}, nil
}

// CheckVersion reports whether a dispatcher of version server serves an agent
// of version agent: same major, minor at most one apart.
func CheckVersion(server, agent string) error {
	sv, err := parseVersion(server)
	if err != nil {
		return err
	}
	if agent == "" {
		return fmt.Errorf("%w: the agent sent no version (manager is %s)", ErrVersionMismatch, server)
	}
	av, err := parseVersion(agent)
	if err != nil {
		return fmt.Errorf("%w: agent version %q is malformed (manager is %s)", ErrVersionMismatch, agent, server)
	}
	d := av.minor - sv.minor
	if av.major != sv.major || d < -1 || d > 1 {
		return fmt.Errorf("%w: agent %s, manager %s (an agent must have the same major version and at most one minor version apart)", ErrVersionMismatch, agent, server)
	}
	return nil
}
