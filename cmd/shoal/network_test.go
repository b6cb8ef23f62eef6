package main

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitNetworksSeparatesModeFromClusterNetworks(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		mode string
		nets []string
		err  string
	}{
		{in: nil},
		{in: []string{"host"}, mode: "host"},
		{in: []string{"front", "bridge", "back"}, mode: "bridge", nets: []string{"front", "back"}},
		{in: []string{"host", "bridge"}, err: "already host"},
		{in: []string{"host", "front"}, err: "cannot attach"},
		{in: []string{""}, err: "--network: empty"},
	} {
		mode, nets, err := splitNetworks(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || mode != tc.mode || !slices.Equal(nets, tc.nets) {
			t.Errorf("%v: got %q %v %v, want %q %v", tc.in, mode, nets, err, tc.mode, tc.nets)
		}
	}
}
