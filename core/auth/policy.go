package auth

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/ca"
)

// Policy says who may call which procedure. Keys of Allow and entries of
// Public take three forms:
//
//   - "/pkg.Service/Method": one procedure;
//   - "pkg.Service": every procedure of a service;
//   - "pkg.prefix.*": every service whose name starts with "pkg.prefix.".
//
// For a procedure, the most specific matching key decides (procedure over
// service over the longest prefix); a Public entry wins over an Allow key of
// the same specificity. Public procedures may be called by anyone, with or
// without a certificate. A procedure no key matches is denied to everyone.
type Policy struct {
	// Allow maps a key to the roles that may call what it matches.
	Allow map[string][]ca.Role
	// Public lists keys that need no certificate.
	Public []string
}

// DefaultPolicy is shoal's policy.
func DefaultPolicy() Policy {
	anyRole := []ca.Role{ca.RoleManager, ca.RoleWorker, ca.RoleAdmin}
	return Policy{
		Allow: map[string][]ca.Role{
			"shoal.v1.ControlService":    {ca.RoleManager, ca.RoleAdmin},
			"shoal.v1.RaftService":       {ca.RoleManager},
			"shoal.v1.DispatcherService": {ca.RoleWorker, ca.RoleManager},
			"shoal.v1.CAService":         anyRole,
			"grpc.reflection.*":          {ca.RoleManager, ca.RoleAdmin},
		},
		Public: []string{
			"/shoal.v1.CAService/GetRootCACertificate",
			"/shoal.v1.CAService/IssueNodeCertificate",
			"grpc.health.v1.Health",
		},
	}
}

// ErrInvalidPolicy reports a malformed Policy key.
var ErrInvalidPolicy = errors.New("auth: invalid policy")

// Validate checks every key's form and role.
func (p Policy) Validate() error {
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(p.Allow)) {
		if _, err := parseKey(k); err != nil {
			errs = append(errs, err)
		}
		for _, r := range p.Allow[k] {
			if !r.Valid() {
				errs = append(errs, fmt.Errorf("%w: key %q allows unknown role %q", ErrInvalidPolicy, k, r))
			}
		}
	}
	for _, k := range p.Public {
		if _, err := parseKey(k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// clone deep-copies p so later changes to the caller's maps do not leak in.
func (p Policy) clone() Policy {
	c := Policy{Allow: make(map[string][]ca.Role, len(p.Allow)), Public: slices.Clone(p.Public)}
	for k, v := range p.Allow {
		c.Allow[k] = slices.Clone(v)
	}
	return c
}

// key specificities: larger is more specific.
const (
	specNone      = 0
	specPrefix    = 1 // plus the prefix length
	specService   = 1 << 20
	specProcedure = 1 << 21
)

type keyKind int

const (
	kindProcedure keyKind = iota
	kindService
	kindPrefix
)

type parsedKey struct {
	kind keyKind
	text string // procedure, service, or prefix without "*"
}

func parseKey(k string) (parsedKey, error) {
	switch {
	case strings.HasPrefix(k, "/"):
		if _, _, ok := splitProcedure(k); !ok {
			return parsedKey{}, fmt.Errorf("%w: procedure key %q, want /pkg.Service/Method", ErrInvalidPolicy, k)
		}
		return parsedKey{kindProcedure, k}, nil
	case strings.HasSuffix(k, "*"):
		prefix := strings.TrimSuffix(k, "*")
		if prefix == "" || strings.ContainsAny(prefix, "/*") {
			return parsedKey{}, fmt.Errorf("%w: prefix key %q, want pkg.prefix.*", ErrInvalidPolicy, k)
		}
		return parsedKey{kindPrefix, prefix}, nil
	case k != "" && !strings.ContainsAny(k, "/*"):
		return parsedKey{kindService, k}, nil
	}
	return parsedKey{}, fmt.Errorf("%w: key %q, want /pkg.Service/Method, pkg.Service or pkg.prefix.*", ErrInvalidPolicy, k)
}

// specificity of key k for procedure proc of service svc; specNone if it
// does not match.
func specificity(k, proc, svc string) int {
	pk, err := parseKey(k)
	if err != nil {
		return specNone
	}
	switch pk.kind {
	case kindProcedure:
		if pk.text == proc {
			return specProcedure
		}
	case kindService:
		if pk.text == svc {
			return specService
		}
	case kindPrefix:
		if strings.HasPrefix(svc, pk.text) {
			return specPrefix + len(pk.text)
		}
	}
	return specNone
}

// splitProcedure splits "/pkg.Service/Method".
func splitProcedure(proc string) (service, method string, ok bool) {
	rest, found := strings.CutPrefix(proc, "/")
	if !found {
		return "", "", false
	}
	service, method, found = strings.Cut(rest, "/")
	if !found || service == "" || method == "" || strings.Contains(method, "/") {
		return "", "", false
	}
	return service, method, true
}

// Authorize decides whether the caller (id, ok) as FromContext returns it
// may call procedure. It returns nil, or a *connect.Error with
// CodeUnauthenticated (no identity where one is needed) or
// CodePermissionDenied.
func (p Policy) Authorize(procedure string, id Identity, ok bool) error {
	return p.authorize(procedure, id, ok, "no client certificate")
}

func (p Policy) authorize(procedure string, id Identity, ok bool, reason string) error {
	svc, _, valid := splitProcedure(procedure)
	if !valid {
		return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("malformed procedure %q", procedure))
	}
	bestAllow, bestKey := specNone, ""
	for k := range p.Allow {
		s := specificity(k, procedure, svc)
		if s > bestAllow || (s == bestAllow && s != specNone && k < bestKey) {
			bestAllow, bestKey = s, k
		}
	}
	bestPublic := specNone
	for _, k := range p.Public {
		bestPublic = max(bestPublic, specificity(k, procedure, svc))
	}
	if bestPublic != specNone && bestPublic >= bestAllow {
		return nil
	}
	if !ok {
		return connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("%s requires a client certificate: %s", procedure, reason))
	}
	if bestAllow == specNone {
		return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("no authorization policy covers %s", procedure))
	}
	if slices.Contains(p.Allow[bestKey], id.Role) {
		return nil
	}
	target := svc
	if bestAllow == specProcedure {
		target = procedure
	}
	who := string(id.Role) + " certificates"
	switch {
	case id.Local:
		who = "the local " + string(id.Role)
	case id.ForwardedBy != "":
		who = fmt.Sprintf("%s callers (forwarded by manager %s)", id.Role, id.ForwardedBy)
	}
	return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%s may not call %s", who, target))
}
