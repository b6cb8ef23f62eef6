package main

import (
	"strings"
	"testing"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func TestNetworkCreateHintSpeaksTheCLIsWords(t *testing.T) {
	cases := []struct {
		spec *shoalv1.NetworkSpec
		want string
	}{
		{&shoalv1.NetworkSpec{Name: "host"}, "'shoal service create --network'"},
		{&shoalv1.NetworkSpec{Name: "n", Gateway: "10.0.0.1"}, "--gateway needs --subnet"},
		{&shoalv1.NetworkSpec{Name: "n", Subnet: "10.0.0.0/24", Gateway: "10.1.0.1"}, ""},
	}
	for _, c := range cases {
		got := networkCreateHint(c.spec)
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("%v: hint %q, want one containing %q", c.spec, got, c.want)
		}
	}
}
