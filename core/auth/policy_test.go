package auth

import (
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/ca"
)

func TestDefaultPolicy(t *testing.T) {
	p := DefaultPolicy()
	if err := p.Validate(); err != nil {
		t.Fatalf("DefaultPolicy invalid: %v", err)
	}
	var (
		manager = Identity{NodeID: "m", ClusterID: "c", Role: ca.RoleManager}
		worker  = Identity{NodeID: "w", ClusterID: "c", Role: ca.RoleWorker}
		admin   = Identity{NodeID: "a", ClusterID: "c", Role: ca.RoleAdmin}
		local   = Identity{Role: ca.RoleAdmin, Local: true}
		fwdW    = Identity{NodeID: "w", ClusterID: "c", Role: ca.RoleWorker, ForwardedBy: "m"}
		none    = Identity{}
	)
	const (
		ok     = connect.Code(0)
		unauth = connect.CodeUnauthenticated
		deny   = connect.CodePermissionDenied
	)
	cases := []struct {
		proc    string
		id      Identity
		hasID   bool
		want    connect.Code
		message string
	}{
		{"/shoal.v1.ControlService/ListNodes", manager, true, ok, ""},
		{"/shoal.v1.ControlService/ListNodes", admin, true, ok, ""},
		{"/shoal.v1.ControlService/ListNodes", local, true, ok, ""},
		{"/shoal.v1.ControlService/ListNodes", worker, true, deny, "worker certificates may not call shoal.v1.ControlService"},
		{"/shoal.v1.ControlService/ListNodes", fwdW, true, deny, "worker callers (forwarded by manager m) may not call shoal.v1.ControlService"},
		{"/shoal.v1.ControlService/ListNodes", none, false, unauth, "/shoal.v1.ControlService/ListNodes requires a client certificate"},
		{"/shoal.v1.RaftService/Step", manager, true, ok, ""},
		{"/shoal.v1.RaftService/Step", admin, true, deny, "admin certificates may not call shoal.v1.RaftService"},
		{"/shoal.v1.RaftService/Step", local, true, deny, "the local admin may not call shoal.v1.RaftService"},
		{"/shoal.v1.RaftService/Step", worker, true, deny, ""},
		{"/shoal.v1.DispatcherService/Session", worker, true, ok, ""},
		{"/shoal.v1.DispatcherService/Session", manager, true, ok, ""},
		{"/shoal.v1.DispatcherService/Session", admin, true, deny, ""},
		{"/shoal.v1.DispatcherService/Session", none, false, unauth, ""},
		{"/shoal.v1.CAService/GetRootCACertificate", none, false, ok, ""},
		{"/shoal.v1.CAService/IssueNodeCertificate", none, false, ok, ""},
		{"/shoal.v1.CAService/IssueNodeCertificate", worker, true, ok, ""},
		{"/shoal.v1.CAService/NodeCertificateStatus", none, false, unauth, ""},
		{"/shoal.v1.CAService/NodeCertificateStatus", worker, true, ok, ""},
		{"/shoal.v1.CAService/NodeCertificateStatus", admin, true, ok, ""},
		{"/grpc.health.v1.Health/Check", none, false, ok, ""},
		{"/grpc.health.v1.Health/Watch", worker, true, ok, ""},
		{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", admin, true, ok, ""},
		{"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", manager, true, ok, ""},
		{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", worker, true, deny, "worker certificates may not call grpc.reflection.v1.ServerReflection"},
		{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", none, false, unauth, ""},
		{"/shoal.v1.Unknown/Do", manager, true, deny, "no authorization policy covers /shoal.v1.Unknown/Do"},
		{"/shoal.v1.Unknown/Do", none, false, unauth, ""},
		{"/shoal.v1.ControlServiceX/ListNodes", manager, true, deny, "no authorization policy"},
		{"not-a-procedure", manager, true, deny, "malformed procedure"},
		{"/shoal.v1.ControlService/", manager, true, deny, "malformed procedure"},
	}
	for _, tc := range cases {
		t.Run(tc.proc+"/"+tc.id.String(), func(t *testing.T) {
			err := p.Authorize(tc.proc, tc.id, tc.hasID)
			if tc.want == ok {
				if err != nil {
					t.Fatalf("denied: %v", err)
				}
				return
			}
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Code() != tc.want {
				t.Fatalf("err = %v, want code %v", err, tc.want)
			}
			if !strings.Contains(ce.Message(), tc.message) {
				t.Fatalf("message %q, want it to contain %q", ce.Message(), tc.message)
			}
		})
	}
}

func TestPolicySpecificity(t *testing.T) {
	p := Policy{
		Allow: map[string][]ca.Role{
			"a.*":             {ca.RoleAdmin},
			"a.b.*":           {ca.RoleWorker},
			"a.b.Svc":         {ca.RoleManager},
			"/a.b.Svc/Secret": {ca.RoleAdmin},
			"/a.b.Svc/Open":   {ca.RoleAdmin},
		},
		Public: []string{"/a.b.Svc/Open", "a.b.Svc2"},
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	role := func(r ca.Role) Identity { return Identity{NodeID: "n", Role: r} }
	cases := []struct {
		proc    string
		allowed []ca.Role
		public  bool
	}{
		{"/a.x.Svc/M", []ca.Role{ca.RoleAdmin}, false},      // "a.*"
		{"/a.b.Other/M", []ca.Role{ca.RoleWorker}, false},   // longer prefix "a.b.*"
		{"/a.b.Svc/M", []ca.Role{ca.RoleManager}, false},    // service beats prefix
		{"/a.b.Svc/Secret", []ca.Role{ca.RoleAdmin}, false}, // procedure beats service
		{"/a.b.Svc/Open", nil, true},                        // public wins a tie
		{"/a.b.Svc2/M", nil, true},                          // public service beats allow prefix
		{"/b.Svc/M", nil, false},                            // nothing matches
	}
	for _, tc := range cases {
		if tc.public {
			if err := p.Authorize(tc.proc, Identity{}, false); err != nil {
				t.Errorf("%s: anonymous denied: %v", tc.proc, err)
			}
			continue
		}
		for _, r := range []ca.Role{ca.RoleManager, ca.RoleWorker, ca.RoleAdmin} {
			want := false
			for _, a := range tc.allowed {
				want = want || a == r
			}
			if got := p.Authorize(tc.proc, role(r), true) == nil; got != want {
				t.Errorf("%s as %s: allowed = %v, want %v", tc.proc, r, got, want)
			}
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	cases := []struct {
		name string
		p    Policy
		want string
	}{
		{"bad procedure", Policy{Allow: map[string][]ca.Role{"/a.B": {ca.RoleAdmin}}}, `procedure key "/a.B"`},
		{"bad prefix", Policy{Allow: map[string][]ca.Role{"*": {ca.RoleAdmin}}}, `prefix key "*"`},
		{"empty key", Policy{Public: []string{""}}, `key ""`},
		{"bad role", Policy{Allow: map[string][]ca.Role{"a.B": {"root"}}}, `unknown role "root"`},
	}
	for _, tc := range cases {
		err := tc.p.Validate()
		if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrInvalidPolicy mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestNewInterceptorCopiesPolicy(t *testing.T) {
	p := DefaultPolicy()
	i := NewInterceptor(p).(*interceptor)
	p.Allow["shoal.v1.RaftService"] = append(p.Allow["shoal.v1.RaftService"], ca.RoleWorker)
	p.Public[0] = "shoal.v1.RaftService"
	err := i.policy.Authorize("/shoal.v1.RaftService/Step", Identity{Role: ca.RoleWorker}, true)
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("changing the caller's policy changed the interceptor: %v", err)
	}
}
