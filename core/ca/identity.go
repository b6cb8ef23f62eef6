package ca

import (
	"crypto/x509"
	"fmt"
	"unicode/utf8"
)

// Role is what a certificate holder may do in the cluster. It is carried in
// the certificate subject's OU.
type Role string

// The roles. Admin is an operator's client certificate, not a node.
const (
	RoleManager Role = "manager"
	RoleWorker  Role = "worker"
	RoleAdmin   Role = "admin"
)

// Valid reports whether r is one of the defined roles.
func (r Role) Valid() bool {
	switch r {
	case RoleManager, RoleWorker, RoleAdmin:
		return true
	}
	return false
}

// String returns the role's name.
func (r Role) String() string { return string(r) }

// ParseRole returns the Role named s.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", fmt.Errorf("%w: unknown role %q, want manager, worker or admin", ErrInvalidIdentity, s)
	}
	return r, nil
}

// Identity is who a verified certificate names.
type Identity struct {
	NodeID    string
	ClusterID string
	Role      Role
}

// maxNameLen is the X.520 upper bound for CN, OU and O (64 characters).
const maxNameLen = 64

// validateName checks a node or cluster ID for use in a certificate subject.
func validateName(what, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s is empty", ErrInvalidIdentity, what)
	}
	if len(s) > maxNameLen {
		return fmt.Errorf("%w: %s is %d bytes, at most %d allowed", ErrInvalidIdentity, what, len(s), maxNameLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidIdentity, what)
	}
	for _, c := range s {
		if c < 0x21 || c == 0x7f {
			return fmt.Errorf("%w: %s %q contains a space or control character", ErrInvalidIdentity, what, s)
		}
	}
	return nil
}

// IdentityFromCert reads the identity from a node certificate's subject. It
// does not verify the certificate: pass only certificates the TLS stack (or
// [RootCA.VerifyNodeCert]) has verified against the cluster root.
func IdentityFromCert(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, fmt.Errorf("%w: no certificate", ErrInvalidIdentity)
	}
	s := cert.Subject
	if len(s.OrganizationalUnit) != 1 {
		return Identity{}, fmt.Errorf("%w: certificate has %d OU values, want exactly 1 (the role)", ErrInvalidIdentity, len(s.OrganizationalUnit))
	}
	if len(s.Organization) != 1 {
		return Identity{}, fmt.Errorf("%w: certificate has %d O values, want exactly 1 (the cluster ID)", ErrInvalidIdentity, len(s.Organization))
	}
	role, err := ParseRole(s.OrganizationalUnit[0])
	if err != nil {
		return Identity{}, err
	}
	id := Identity{NodeID: s.CommonName, ClusterID: s.Organization[0], Role: role}
	if err := validateName("node ID (CN)", id.NodeID); err != nil {
		return Identity{}, err
	}
	if err := validateName("cluster ID (O)", id.ClusterID); err != nil {
		return Identity{}, err
	}
	return id, nil
}
