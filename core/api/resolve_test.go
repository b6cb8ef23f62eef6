package api

import (
	"context"
	"testing"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// A node reference is a whole ID, else a hostname, else an ID prefix: the
// hostname "m1" names the node called m1, not the one whose ID starts m1.
func TestResolveNodePrefersHostnameOverIDPrefix(t *testing.T) {
	st := store.NewLocal()
	nodes := []*shoalv1.Node{
		{Id: "m16b314f", Description: &shoalv1.NodeDescription{Hostname: "m2"}},
		{Id: "fpaea34p", Description: &shoalv1.NodeDescription{Hostname: "m1"}},
		{Id: "m1zzzzzz", Description: &shoalv1.NodeDescription{Hostname: "w1"}},
		{Id: "x1", Description: &shoalv1.NodeDescription{Hostname: "twin"}},
		{Id: "x2", Description: &shoalv1.NodeDescription{Hostname: "twin"}},
	}
	err := st.Update(context.Background(), func(tx store.Tx) error {
		for _, n := range nodes {
			if err := tx.Create(n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ref, want string // want "" for an error
	}{
		{"m1", "fpaea34p"},       // the hostname, though two IDs start with m1
		{"m16b314f", "m16b314f"}, // a whole ID
		{"m16", "m16b314f"},      // a unique prefix
		{"fpa", "fpaea34p"},
		{"m1z", "m1zzzzzz"},
		{"twin", ""}, // two nodes have that hostname
		{"x", ""},    // the prefix matches two
		{"nope", ""},
	}
	for _, tt := range tests {
		var got *shoalv1.Node
		err := st.View(func(tx store.ReadTx) (err error) {
			got, err = resolveNode(tx, tt.ref)
			return err
		})
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("resolve %q: got %s, want an error", tt.ref, got.GetId())
		case tt.want != "" && (err != nil || got.GetId() != tt.want):
			t.Errorf("resolve %q: got %s, %v; want %s", tt.ref, got.GetId(), err, tt.want)
		}
	}
}
