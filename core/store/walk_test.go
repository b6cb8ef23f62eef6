package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func TestWalkVisitsEveryObjectOfAKindUntilToldToStop(t *testing.T) {
	st := store.NewLocal()
	err := st.Update(context.Background(), func(tx store.Tx) error {
		for _, id := range []string{"a", "b", "c"} {
			if err := tx.Create(&shoalv1.Task{Id: id}); err != nil {
				return err
			}
		}
		return tx.Create(&shoalv1.Node{Id: "n"})
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	if err := st.Walk(store.KindTask, func(o store.Object) bool { ids = append(ids, o.GetId()); return true }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"a", "b", "c"}) {
		t.Fatalf("walked %v", ids)
	}
	n := 0
	_ = st.Walk(store.KindTask, func(store.Object) bool { n++; return false })
	if n != 1 {
		t.Fatalf("walk went on after false: %d visits", n)
	}
	if err := st.Walk(store.Kind(99), func(store.Object) bool { return true }); !errors.Is(err, store.ErrInvalidFindBy) {
		t.Fatalf("unknown kind: %v", err)
	}
}
