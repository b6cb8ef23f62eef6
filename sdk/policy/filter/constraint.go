package filter

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shoal-project/shoal/sdk"
)

// ErrInvalidConstraint is returned (wrapped) for a constraint that cannot be
// parsed.
var ErrInvalidConstraint = errors.New("invalid constraint")

type field uint8

const (
	fieldID field = iota
	fieldHostname
	fieldRole
	fieldLabel
)

// Constraint is a parsed placement constraint such as
// "node.labels.zone==a" or "node.role!=manager".
type Constraint struct {
	field field
	label string // for fieldLabel
	equal bool   // == (true) or != (false)
	value string
}

// ParseConstraint parses one expression KEY==VALUE or KEY!=VALUE where KEY
// is node.id, node.hostname, node.role or node.labels.NAME (the "node."
// prefix and the fixed keys are case-insensitive; values compare
// case-insensitively, as in swarm mode).
func ParseConstraint(s string) (Constraint, error) {
	var c Constraint
	var key, val string
	if i := strings.Index(s, "!="); i >= 0 {
		key, val = s[:i], s[i+2:]
	} else if i := strings.Index(s, "=="); i >= 0 {
		key, val = s[:i], s[i+2:]
		c.equal = true
	} else {
		return c, fmt.Errorf("%w %q: want KEY==VALUE or KEY!=VALUE", ErrInvalidConstraint, s)
	}
	key, val = strings.TrimSpace(key), strings.TrimSpace(val)
	if val == "" {
		return c, fmt.Errorf("%w %q: empty value", ErrInvalidConstraint, s)
	}
	if strings.ContainsAny(val, "=!") {
		return c, fmt.Errorf("%w %q: more than one operator", ErrInvalidConstraint, s)
	}
	c.value = val
	lk := strings.ToLower(key)
	switch {
	case lk == "node.id":
		c.field = fieldID
	case lk == "node.hostname":
		c.field = fieldHostname
	case lk == "node.role":
		c.field = fieldRole
		v := strings.ToLower(val)
		if v != "manager" && v != "worker" {
			return c, fmt.Errorf("%w %q: role must be manager or worker", ErrInvalidConstraint, s)
		}
	case strings.HasPrefix(lk, "node.labels.") && len(key) > len("node.labels."):
		c.field = fieldLabel
		c.label = key[len("node.labels."):]
	default:
		return c, fmt.Errorf("%w %q: unknown key %q (want node.id, node.hostname, node.role or node.labels.NAME)", ErrInvalidConstraint, s, key)
	}
	return c, nil
}

// ParseConstraints parses every expression; the first error wins.
func ParseConstraints(ss []string) ([]Constraint, error) {
	if len(ss) == 0 {
		return nil, nil
	}
	out := make([]Constraint, 0, len(ss))
	for _, s := range ss {
		c, err := ParseConstraint(s)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Match reports whether the node satisfies the constraint. A missing label
// fails == and satisfies !=.
func (c Constraint) Match(n *sdk.Node) bool {
	var have string
	var present = true
	switch c.field {
	case fieldID:
		have = n.ID
	case fieldHostname:
		have = n.Hostname
	case fieldRole:
		have = n.Role.String()
	case fieldLabel:
		have, present = n.Labels[c.label]
	}
	eq := present && strings.EqualFold(have, c.value)
	return eq == c.equal
}

// MatchAll reports whether the node satisfies every constraint.
func MatchAll(cs []Constraint, n *sdk.Node) bool {
	for _, c := range cs {
		if !c.Match(n) {
			return false
		}
	}
	return true
}

// PreferenceLabel returns the label name of a spread preference
// ("node.labels.zone" -> "zone").
func PreferenceLabel(p string) (string, error) {
	const prefix = "node.labels."
	if len(p) <= len(prefix) || !strings.EqualFold(p[:len(prefix)], prefix) {
		return "", fmt.Errorf("%w: spread preference %q: want node.labels.NAME", ErrInvalidConstraint, p)
	}
	return p[len(prefix):], nil
}
