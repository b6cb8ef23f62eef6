package scheduler

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateConstraint(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"node.id==abc", true},
		{"node.hostname!=web1", true},
		{"node.role==manager", true},
		{"node.role!=worker", true},
		{"node.labels.zone==eu-1", true},
		{" node.labels.ssd == true ", true},
		{"node.role==boss", false},
		{"node.platform.os==linux", false},
		{"engine.labels.x==y", false},
		{"node.labels.==x", false},
		{"node.id=abc", false},
		{"node.id==", false},
		{"node.id==a!=b", false},
		{"", false},
	}
	for _, tt := range tests {
		err := ValidateConstraint(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("%q: err = %v", tt.in, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidConstraint) {
			t.Errorf("%q: %v is not ErrInvalidConstraint", tt.in, err)
		}
	}
	if err := ValidatePreference("node.labels.zone"); err != nil {
		t.Error(err)
	}
	if err := ValidatePreference("node.zone"); !errors.Is(err, ErrInvalidConstraint) {
		t.Errorf("bad preference accepted: %v", err)
	}
}

func FuzzValidateConstraint(f *testing.F) {
	for _, s := range []string{"node.id==x", "node.labels.a!=b", "node.role==worker", "==", "node.labels.==", "!=!="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateConstraint(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidConstraint) {
				t.Fatalf("%q: unwrapped error %v", s, err)
			}
			return
		}
		if !strings.Contains(s, "==") && !strings.Contains(s, "!=") {
			t.Fatalf("%q accepted without an operator", s)
		}
		if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(s)), "node.") {
			t.Fatalf("%q accepted without a node. key", s)
		}
	})
}
